"""OCTO wire format: both signature readings against the spec's computed vectors, exact decimal
amounts, both response envelopes, error answers. Pure functions, no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kassa.payments.gateways.octo import protocol as p

# The official notification example (spec §3.4).
UUID = "4556a13e-f763-4b91-9387-92395fd51ccf"
HASH_KEY = "e27d3f79-3189-44e9-8a66-566a141025df"
EXAMPLE = {
    "shop_transaction_id": "7339d5be-871b-45d8-ab07-dbbd51364c2f",
    "octo_payment_UUID": UUID,
    "status": "succeeded",
    "signature": "64F35398F22FE63FE780583F8BEEDE170094CE5D",
    "hash_key": HASH_KEY,
    "total_sum": 1,
    "transfer_sum": 0.97,
    "refunded_sum": 0,
}


def note(**changes: object) -> p.Notification:
    return p.parse_notification(json.dumps({**EXAMPLE, **changes}).encode())


def test_scheme_a_matches_the_specs_computed_vector() -> None:
    assert (
        p.signature_hash_key("SECRET", HASH_KEY, UUID, "succeeded")
        == "0C29B07E2D9A69844D55F324A46AF6936CD91F26"
    )


def test_scheme_b_matches_the_specs_computed_vector() -> None:
    assert (
        p.signature_unique_key("UNIQUE_KEY", UUID, "succeeded")
        == "609BF70166D9DFA8C1EC64573AB94AE8542FBC7C"
    )


@pytest.mark.parametrize("case", [str.upper, str.lower])
def test_signatures_compare_case_insensitively(case: object) -> None:
    a = note(signature=case("0C29B07E2D9A69844D55F324A46AF6936CD91F26"))  # type: ignore[operator]
    assert p.signature_matches(a, "hash_key", secret="SECRET", unique_key="")
    b = note(signature=case("609BF70166D9DFA8C1EC64573AB94AE8542FBC7C"))  # type: ignore[operator]
    assert p.signature_matches(b, "unique_key", secret="", unique_key="UNIQUE_KEY")


def test_each_scheme_refuses_the_other_and_either_takes_both() -> None:
    a = note(signature="0C29B07E2D9A69844D55F324A46AF6936CD91F26")
    b = note(signature="609BF70166D9DFA8C1EC64573AB94AE8542FBC7C")
    keys = {"secret": "SECRET", "unique_key": "UNIQUE_KEY"}
    assert not p.signature_matches(a, "unique_key", **keys)
    assert not p.signature_matches(b, "hash_key", **keys)
    assert p.signature_matches(a, "either", **keys)
    assert p.signature_matches(b, "either", **keys)


def test_the_official_example_signature_matches_neither_test_key() -> None:
    # The docs' example was signed with a secret we do not have: it must not verify.
    example = note()
    keys = {"secret": "SECRET", "unique_key": "UNIQUE_KEY"}
    assert not p.signature_matches(example, "either", **keys)


@pytest.mark.parametrize(
    "change",
    [
        {"status": "canceled"},
        {"octo_payment_UUID": "1145df74-bb95-47cf-a616-8d6dcee2e222"},
        {"hash_key": "another"},
    ],
)
def test_a_changed_field_breaks_the_signature(change: dict[str, str]) -> None:
    signed = note(signature="0C29B07E2D9A69844D55F324A46AF6936CD91F26", **change)
    assert not p.signature_matches(signed, "hash_key", secret="SECRET", unique_key="")


def test_an_empty_key_never_verifies() -> None:
    unsigned = note(signature=p.signature_unique_key("", UUID, "succeeded"))
    assert not p.signature_matches(unsigned, "unique_key", secret="", unique_key="")


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        json.dumps({**EXAMPLE, "signature": ""}).encode(),
        json.dumps({k: v for k, v in EXAMPLE.items() if k != "status"}).encode(),
        json.dumps({**EXAMPLE, "octo_payment_UUID": 5}).encode(),
    ],
)
def test_malformed_notifications_are_refused(raw: bytes) -> None:
    with pytest.raises(p.ProtocolError):
        p.parse_notification(raw)


def test_amounts_are_exact_json_numbers() -> None:
    body = p.dumps({"total_sum": p.amount_of(123456789, "UZS"), "n": 1, "s": "x"})
    assert body == b'{"total_sum":1234567.89,"n":1,"s":"x"}'
    assert p.loads(body)["total_sum"] == Decimal("1234567.89")


@pytest.mark.parametrize(
    ("value", "minor"), [(Decimal("1500.00"), 150000), ("1500", 150000), (1, 100), ("0.97", 97)]
)
def test_minor_units_accept_numbers_and_strings(value: object, minor: int) -> None:
    assert p.minor_units(value, "UZS") == minor


@pytest.mark.parametrize("value", [Decimal("1.005"), "abc", None, True, "NaN"])
def test_minor_units_refuse_inexact_or_junk(value: object) -> None:
    with pytest.raises(p.ProtocolError):
        p.minor_units(value, "UZS")


def test_prepare_body_sends_every_decision_explicitly() -> None:
    body = p.prepare_body(
        "27001",
        "sec",
        p.PrepareRequest(
            shop_transaction_id="pay_1",
            amount=150000,
            currency="UZS",
            auto_capture=False,
            test=True,
            init_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            description="Tour",
            return_url="https://k/r",
            notify_url="https://k/hooks/octo/gwa_1",
            language="de",
            ttl_minutes=15,
            phone="+998 90 123-45-67",
        ),
    )
    assert body["octo_shop_id"] == 27001 and body["octo_secret"] == "sec"
    assert body["auto_capture"] is False and body["test"] is True
    assert body["total_sum"] == Decimal("1500.00") and body["currency"] == "UZS"
    assert body["init_time"] == "2026-01-02 08:04:05"  # Tashkent wall-clock time
    assert body["language"] == "en"  # OCTO speaks uz, ru, en
    assert body["user_data"] == {"phone": "998901234567"}
    assert b'"total_sum":1500.00' in p.dumps(body)


def test_status_body_is_prepare_with_only_the_ids() -> None:
    assert p.status_body("1", "s", "pay_1") == {
        "octo_shop_id": 1,
        "octo_secret": "s",
        "shop_transaction_id": "pay_1",
    }


@pytest.mark.parametrize(
    "payload",
    [
        {"error": 0, "data": {"octo_payment_UUID": UUID, "status": "created", "octo_pay_url": "u"}},
        {"error": 0, "octo_payment_UUID": UUID, "status": "created", "octo_pay_url": "u"},
    ],
)
def test_both_envelopes_are_read(payload: dict[str, object]) -> None:
    state = p.payment_state(payload)
    assert (state.octo_payment_uuid, state.status, state.pay_url) == (UUID, "created", "u")


def test_an_error_answer_is_octo_refused() -> None:
    with pytest.raises(p.OctoRefused) as refused:
        p.payment_state({"error": 2, "errMessage": "Wrong secret", "data": None})
    assert refused.value.octo_code == 2 and refused.value.octo_message == "Wrong secret"


@pytest.mark.parametrize("payload", [[], {"error": 0, "data": {}}, {"error": "x"}])
def test_answers_without_the_fields_are_protocol_errors(payload: object) -> None:
    with pytest.raises(p.ProtocolError):
        p.payment_state(payload)


def test_refund_state() -> None:
    state = p.refund_state(
        {"error": 0, "data": {"octo_payment_UUID": UUID, "refund_id": "r1", "status": "succeeded"}}
    )
    assert (state.refund_id, state.status) == ("r1", "succeeded")
