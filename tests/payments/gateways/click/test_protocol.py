"""Click's wire format: the sign_string vectors, parsing order, amounts, replies."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from kassa.payments.gateways.click import protocol
from kassa.payments.gateways.click.protocol import ClickError, ProtocolError
from tests.payments.gateways.click.client import md5_sign

# Spec §2.6 [COMPUTED]
VECTOR = {
    "click_trans_id": "1234567",
    "service_id": "1234",
    "merchant_trans_id": "order-42",
    "amount": "1000.00",
    "sign_time": "2024-01-15 12:30:00",
}


def test_prepare_vector() -> None:
    fields = {**VECTOR, "action": "0"}
    assert protocol.sign(fields, "TEST_SECRET") == "e67d0688ed85b80932dd8fb996a09aa8"
    assert md5_sign(fields, "TEST_SECRET") == "e67d0688ed85b80932dd8fb996a09aa8"


def test_complete_vector() -> None:
    fields = {**VECTOR, "action": "1", "merchant_prepare_id": "55"}
    assert protocol.sign(fields, "TEST_SECRET") == "f8042208da84036b4c39f614f908fcdc"
    assert md5_sign(fields, "TEST_SECRET") == "f8042208da84036b4c39f614f908fcdc"


def test_signature_is_over_the_amount_as_received() -> None:
    a = protocol.sign({**VECTOR, "action": "0", "amount": "1000"}, "S")
    b = protocol.sign({**VECTOR, "action": "0", "amount": "1000.00"}, "S")
    assert a != b


def request_fields(action: str = "0", **changes: str) -> dict[str, str]:
    fields = {
        **VECTOR,
        "click_paydoc_id": "7654321",
        "action": action,
        "error": "0",
        "error_note": "Success",
    }
    if action == "1":
        fields["merchant_prepare_id"] = "55"
    fields.update(changes)
    if "sign_string" not in changes:
        fields["sign_string"] = md5_sign(fields, "TEST_SECRET")
    return fields


def parse(fields: dict[str, str]) -> protocol.ClickRequest:
    return protocol.parse(fields, secret_key="TEST_SECRET", service_id="1234")


def test_parse_a_valid_complete() -> None:
    request = parse(request_fields("1"))
    assert request.action == 1
    assert request.click_trans_id == 1234567
    assert request.merchant_prepare_id == 55
    assert request.amount == "1000.00"
    assert request.error == 0


def test_signature_is_compared_case_insensitively() -> None:
    fields = request_fields()
    fields["sign_string"] = fields["sign_string"].upper()
    assert parse(fields).click_trans_id == 1234567


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        (request_fields(action=""), ClickError.BAD_REQUEST),
        (request_fields(action="2"), ClickError.ACTION_NOT_FOUND),
        (request_fields(action="prepare"), ClickError.ACTION_NOT_FOUND),
        ({k: v for k, v in request_fields().items() if k != "sign_time"}, ClickError.BAD_REQUEST),
        ({k: v for k, v in request_fields().items() if k != "sign_string"}, ClickError.BAD_REQUEST),
        (
            {k: v for k, v in request_fields("1").items() if k != "merchant_prepare_id"},
            ClickError.BAD_REQUEST,
        ),
        (request_fields(sign_string="0" * 32), ClickError.SIGN_CHECK_FAILED),
        (request_fields(sign_string="zz"), ClickError.SIGN_CHECK_FAILED),
        (request_fields(sign_string="é" * 32), ClickError.SIGN_CHECK_FAILED),
        (request_fields(click_trans_id="12x"), ClickError.BAD_REQUEST),
        (request_fields(click_trans_id="99999999999999999999"), ClickError.BAD_REQUEST),
        (request_fields(click_paydoc_id="-1"), ClickError.BAD_REQUEST),
        (request_fields("1", merchant_prepare_id="abc"), ClickError.BAD_REQUEST),
        (request_fields(error="oops"), ClickError.BAD_REQUEST),
        (request_fields(service_id="9999"), ClickError.BAD_REQUEST),
    ],
)
def test_parse_refusals(fields: dict[str, str], code: ClickError) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse(fields)
    assert refused.value.code == code


def test_a_wrong_signature_wins_over_a_malformed_id() -> None:
    fields = request_fields(click_trans_id="12x")
    fields["sign_string"] = "0" * 32
    with pytest.raises(ProtocolError) as refused:
        parse(fields)
    assert refused.value.code == ClickError.SIGN_CHECK_FAILED


@pytest.mark.parametrize(
    ("amount", "tiyin"),
    [
        ("1000", 100000),
        ("1000.0", 100000),
        ("1000.00", 100000),
        ("1000.000", 100000),
        ("0.01", 1),
        ("1000.001", None),  # finer than a tiyin
        ("1e3", None),
        ("-1000", None),
        (" 1000", None),
        ("1,000.00", None),
        ("NaN", None),
        ("", None),
    ],
)
def test_amounts(amount: str, tiyin: int | None) -> None:
    assert protocol.amount_in_tiyin(amount) == tiyin


def test_parse_form() -> None:
    assert protocol.parse_form(urlencode({"a": "1", "b": "x y"}).encode()) == {"a": "1", "b": "x y"}
    assert protocol.parse_form(b"a=1&a=2") is None  # a repeated field is not trusted
    assert protocol.parse_form(b"\xff\xfe") is None
    assert protocol.parse_form(b'{"json": true}') is None
    assert protocol.parse_form(b"") == {}


def test_replies_are_flat_json_with_the_documented_notes() -> None:
    prepare = json.loads(
        protocol.reply(
            ClickError.SUCCESS, action=0, click_trans_id=1, merchant_trans_id="pay_x", merchant_id=5
        )
    )
    assert prepare == {
        "click_trans_id": 1,
        "merchant_trans_id": "pay_x",
        "merchant_prepare_id": 5,
        "error": 0,
        "error_note": "Success",
    }
    complete = json.loads(protocol.reply(ClickError.ALREADY_PAID, action=1, click_trans_id=1))
    assert complete["merchant_confirm_id"] is None
    assert complete["error"] == -4
    assert complete["error_note"] == "Already paid"
    assert {int(code): note for code, note in protocol.ERROR_NOTES.items()} == {
        0: "Success",
        -1: "SIGN CHECK FAILED!",
        -2: "Incorrect parameter amount",
        -3: "Action not found",
        -4: "Already paid",
        -5: "User does not exist",
        -6: "Transaction does not exist",
        -7: "Failed to update user",
        -8: "Error in request from click",
        -9: "Transaction cancelled",
    }


def test_big_click_ids_survive_the_json_reply() -> None:
    body = protocol.reply(ClickError.SUCCESS, action=0, click_trans_id=2**63 - 1)
    assert b"9223372036854775807" in body
