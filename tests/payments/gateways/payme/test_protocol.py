"""Payme's wire format without a database: parsing, Basic auth, replies, messages."""

from __future__ import annotations

import json

import pytest

from kassa.payments.gateways.payme import protocol
from kassa.payments.gateways.payme.protocol import Malformed, PaymeError, PaymeFault


def test_the_spec_basic_auth_vector() -> None:
    assert protocol.authorization_header("TEST_KEY") == "Basic UGF5Y29tOlRFU1RfS0VZ"
    assert protocol.basic_credentials("Basic UGF5Y29tOlRFU1RfS0VZ") == ("Paycom", "TEST_KEY")
    assert protocol.authorized("Basic UGF5Y29tOlRFU1RfS0VZ", "TEST_KEY")
    assert protocol.authorized("basic UGF5Y29tOlRFU1RfS0VZ", "TEST_KEY", "Paycom")
    assert not protocol.authorized("Basic UGF5Y29tOlRFU1RfS0VZ", "TEST_KEY", "Other")
    assert not protocol.authorized("Basic UGF5Y29tOlRFU1RfS0VZ", "")


def test_a_key_with_colons_is_the_part_after_the_first_colon() -> None:
    header = protocol.authorization_header("a:b:c")
    assert protocol.basic_credentials(header) == ("Paycom", "a:b:c")
    assert protocol.authorized(header, "a:b:c")


def test_a_call_is_parsed_whatever_the_id_type() -> None:
    call = protocol.parse_call(b'{"method": "CheckTransaction", "params": {"id": "x"}, "id": 7}')
    assert (call.method, call.params, call.id) == ("CheckTransaction", {"id": "x"}, 7)
    assert protocol.parse_call(b'{"method": "M", "params": {}, "id": "abc"}').id == "abc"


@pytest.mark.parametrize(
    ("body", "code", "request_id"),
    [
        (b"", PaymeError.PARSE_ERROR, None),
        (b"\xff\xfe", PaymeError.PARSE_ERROR, None),
        (b"{", PaymeError.PARSE_ERROR, None),
        (b"null", PaymeError.INVALID_REQUEST, None),
        (b'{"method": "M", "params": {}}', PaymeError.INVALID_REQUEST, None),
        (b'{"method": "", "params": {}, "id": 3}', PaymeError.INVALID_REQUEST, 3),
        (b'{"method": "M", "params": null, "id": 4}', PaymeError.INVALID_REQUEST, 4),
    ],
)
def test_malformed_bodies(body: bytes, code: PaymeError, request_id: object) -> None:
    with pytest.raises(Malformed) as caught:
        protocol.parse_call(body)
    assert caught.value.code == code
    assert caught.value.request_id == request_id


def test_replies_carry_the_id_and_a_localized_message() -> None:
    ok = json.loads(protocol.result(5, {"allow": True}))
    assert ok == {"jsonrpc": "2.0", "id": 5, "result": {"allow": True}}
    bad = json.loads(protocol.error(6, PaymeError.METHOD_NOT_FOUND, "Nope"))
    assert bad["id"] == 6 and "result" not in bad
    assert bad["error"]["code"] == -32601 and bad["error"]["data"] == "Nope"
    assert bad["error"]["message"] == {
        "ru": "Метод не найден.",
        "uz": "Usul topilmadi.",
        "en": "The method is not found.",
    }


def test_every_message_is_translated_into_russian_and_uzbek() -> None:
    for key in protocol.MESSAGES:
        text = protocol.localized(key)
        assert set(text) == {"ru", "uz", "en"}
        assert text["ru"] != text["en"] and text["uz"] != text["en"], key


def test_every_code_has_a_default_message_and_the_account_codes_are_in_range() -> None:
    for code in PaymeError:
        assert protocol.DEFAULT_MESSAGE[code] in protocol.MESSAGES
    for code in (PaymeError.ACCOUNT_NOT_FOUND, PaymeError.ACCOUNT_BUSY):
        assert -31099 <= code <= -31050
    for code in (PaymeError.ACCOUNT_PAID, PaymeError.ACCOUNT_CLOSED):
        assert -31099 <= code <= -31050


@pytest.mark.parametrize(
    ("params", "ok"),
    [
        ({"amount": 1}, 1),
        ({"amount": 500000.0}, 500000),
        ({"amount": 0}, None),
        ({"amount": -1}, None),
        ({"amount": 1.5}, None),
        ({"amount": "1"}, None),
        ({"amount": True}, None),
        ({}, None),
    ],
)
def test_amounts(params: dict[str, object], ok: int | None) -> None:
    if ok is None:
        with pytest.raises(PaymeFault) as caught:
            protocol.param_amount(params)
        assert caught.value.code == PaymeError.WRONG_AMOUNT
        assert caught.value.data == "amount"
    else:
        assert protocol.param_amount(params) == ok


def test_account_values() -> None:
    assert protocol.param_account({"account": {"order_id": " pay_1 "}}, "order_id") == "pay_1"
    assert protocol.param_account({"account": {"order_id": 197}}, "order_id") == "197"
    with pytest.raises(PaymeFault) as caught:
        protocol.param_account({"account": {"order_id": "x" * 65}}, "order_id")
    assert (caught.value.code, caught.value.data) == (PaymeError.ACCOUNT_NOT_FOUND, "order_id")
