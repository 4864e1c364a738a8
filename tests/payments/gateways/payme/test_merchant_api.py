"""Payme Merchant API end to end: a test client plays Payme against /hooks/payme/<gwa>; the
hosted checkout sends the customer to Payme; the ledger stays balanced after every flow."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from kassa.core.actors import Actor
from kassa.events.models import Event
from kassa.ledger.models import LedgerTransaction
from kassa.payments import purposes
from kassa.payments import services as payment_services
from kassa.payments.gateways.payme import services as payme_services
from kassa.payments.gateways.payme.models import PaymeTransaction
from kassa.payments.models import GatewayAccount, Payment, Refund
from tests.conftest import make_org
from tests.ledger.helpers import account_balances, assert_ledger_balanced
from tests.payments.conftest import path_of
from tests.payments.gateways.payme.client import (
    KEY,
    MERCHANT_ID,
    NOW_MS,
    PaymeClient,
    basic_auth,
    error_code,
    make_payme_account,
    new_payme_id,
)

pytestmark = pytest.mark.django_db

AMOUNT = 150000  # 1 500.00 so'm, in tiyin
HOUR_MS = 3_600_000
TIMEOUT = payme_services.TIMEOUT_MS


class Clock:
    """Both clocks of the conversation, moved by hand: Payme's (`time` it sends) and Kassa's
    (`create_time`, `perform_time`, the 12-hour rule). They agree unless a test skews them."""

    def __init__(self) -> None:
        self.now = NOW_MS

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(payme_services, "clock", fake)
    return fake


@pytest.fixture
def payme_account(org: Any) -> GatewayAccount:
    return make_payme_account(org)


@pytest.fixture
def payme(payme_account: GatewayAccount, clock: Clock) -> PaymeClient:
    return PaymeClient(payme_account, clock=clock)


@pytest.fixture
def new_payment(
    api: Any, payme_account: GatewayAccount, clock: Clock
) -> Callable[..., dict[str, Any]]:
    def make(amount: int = AMOUNT, **body: Any) -> dict[str, Any]:
        created = api.post("/v1/payments", {"amount": amount, "currency": "UZS", **body})
        assert created.status_code == 200, created.content
        payment: dict[str, Any] = created.json()
        # The payment's checkout lifetime is wall-clock; keep it open in the test's time.
        Payment.objects.filter(pk=payment["id"]).update(expires_at=None)
        return payment

    return make


def status(payment_id: str) -> str:
    return Payment.objects.get(pk=payment_id).status


def balances(org_id: str) -> dict[str, int]:
    return account_balances(org_id)


def event_types(payment_id: str) -> list[str]:
    return list(
        Event.objects.filter(object_id=payment_id).order_by("id").values_list("type", flat=True)
    )


def txn(payme_id: str) -> PaymeTransaction:
    return PaymeTransaction.objects.get(payme_id=payme_id)


# -- the flows -----------------------------------------------------------------------------------


def test_check_create_perform_pays_the_payment(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], org: Any, clock: Clock
) -> None:
    pay = new_payment()["id"]
    assert payme.check_perform(pay, AMOUNT)["result"] == {"allow": True}
    payme_id = new_payme_id()
    created = payme.create(pay, AMOUNT, payme_id=payme_id)["result"]
    record = txn(payme_id)
    assert created == {
        "create_time": NOW_MS,
        "transaction": str(record.pk),
        "state": 1,
        "receivers": None,
    }
    assert status(pay) == "processing"
    assert not LedgerTransaction.objects.filter(reference=pay).exists()
    clock.advance(5_000)
    performed = payme.perform(payme_id)["result"]
    assert performed == {"transaction": str(record.pk), "perform_time": NOW_MS + 5_000, "state": 2}
    payment = Payment.objects.get(pk=pay)
    assert payment.status == "succeeded"
    assert payment.gateway_reference == payme_id
    assert payment.gateway_account_id == payme.account.id
    assert event_types(pay) == ["payment.created", "payment.processing", "payment.succeeded"]
    assert balances(org.id) == {
        f"gateway_clearing:{payme.account.id}": -AMOUNT,
        "payments_received:": AMOUNT,
    }
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert_ledger_balanced(org.id)
    checked = payme.check(payme_id)["result"]
    assert checked == {
        "create_time": NOW_MS,
        "perform_time": NOW_MS + 5_000,
        "cancel_time": 0,
        "transaction": str(record.pk),
        "state": 2,
        "reason": None,
    }


def test_the_sandbox_sends_every_call_twice_and_gets_identical_answers(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], clock: Clock, org: Any
) -> None:
    pay = new_payment()["id"]
    payme_id = new_payme_id()
    time = clock()
    first = payme.create(pay, AMOUNT, payme_id=payme_id, time=time)
    clock.advance(60_000)  # "now" moves on; the repeat must not use it
    assert payme.create(pay, AMOUNT, payme_id=payme_id, time=time)["result"] == first["result"]
    performed = payme.perform(payme_id)
    clock.advance(60_000)
    assert payme.perform(payme_id)["result"] == performed["result"]
    clock.advance(60_000)
    cancelled = payme.cancel(payme_id, 5)
    clock.advance(60_000)
    assert payme.cancel(payme_id, 5)["result"] == cancelled["result"]
    assert payme.cancel(payme_id, 1)["result"] == cancelled["result"]  # reason unchanged
    assert txn(payme_id).reason == 5
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert Refund.objects.filter(payment_id=pay).count() == 1
    assert_ledger_balanced(org.id)


def test_cancel_before_perform_gives_the_order_back_and_a_new_transaction_pays(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], clock: Clock, org: Any
) -> None:
    pay = new_payment()["id"]
    first = new_payme_id()
    payme.create(pay, AMOUNT, payme_id=first)
    clock.advance(1_000)
    cancelled = payme.cancel(first, 3)["result"]
    record = txn(first)
    assert cancelled == {"transaction": str(record.pk), "cancel_time": NOW_MS + 1_000, "state": -1}
    assert (record.state, record.reason) == (-1, 3)
    payment = Payment.objects.get(pk=pay)
    assert payment.status == "requires_action"
    assert payment.failure_code == "payme_reason_3"
    assert error_code(payme.perform(first)) == -31008
    assert error_code(payme.create(pay, AMOUNT, payme_id=first)) == -31008
    assert payme.check(first)["result"]["reason"] == 3
    _second, _, _ = payme.pay(pay, AMOUNT)
    assert status(pay) == "succeeded"
    assert balances(org.id)[f"gateway_clearing:{payme.account.id}"] == -AMOUNT
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert_ledger_balanced(org.id)


def test_cancel_after_perform_refunds_the_payment(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], clock: Clock, org: Any
) -> None:
    pay = new_payment()["id"]
    payme_id, _, _ = payme.pay(pay, AMOUNT)
    clock.advance(HOUR_MS)
    reply = payme.twice(lambda: payme.cancel(payme_id, 5))["result"]
    assert reply["state"] == -2 and reply["cancel_time"] == NOW_MS + HOUR_MS
    record = txn(payme_id)
    assert (record.state, record.reason) == (-2, 5)
    refund = Refund.objects.get(payment_id=pay)
    assert record.refund_id == refund.id
    assert (refund.status, refund.amount, refund.gateway_reference) == (
        "succeeded",
        AMOUNT,
        f"payme:{payme_id}",
    )
    payment = Payment.objects.get(pk=pay)
    assert payment.status == "succeeded" and payment.amount_refunded == AMOUNT
    assert balances(org.id) == {
        f"gateway_clearing:{payme.account.id}": 0,
        "payments_received:": 0,
        "refunds_in_flight:": 0,
    }
    assert "refund.succeeded" in list(Event.objects.values_list("type", flat=True))
    assert error_code(payme.perform(payme_id)) == -31008
    assert error_code(payme.check_perform(pay, AMOUNT)) == -31052
    assert_ledger_balanced(org.id)


class FinalSale(purposes.Purpose):
    key = "test_final_sale"
    refundable = False


@pytest.fixture
def final_sale() -> Iterator[None]:
    purposes.register(FinalSale())
    yield
    purposes._purposes.pop(FinalSale.key, None)


def test_cancel_after_perform_is_refused_when_the_purpose_allows_no_refund(
    payme: PaymeClient, org: Any, payme_account: GatewayAccount, final_sale: None
) -> None:
    payment = payment_services.create_payment(
        org, amount=AMOUNT, currency="UZS", livemode=False, purpose=FinalSale.key
    )
    payme_id, _, _performed = payme.pay(payment.id, AMOUNT)
    reply = payme.cancel(payme_id, 5)
    assert error_code(reply) == -31007
    assert reply["error"]["data"] == "transaction"
    assert payme.check(payme_id)["result"]["state"] == 2
    assert not Refund.objects.exists()
    assert_ledger_balanced(org.id)


def test_the_refuse_option_answers_minus_31007(org: Any, api: Any, clock: Clock) -> None:
    account = make_payme_account(org, options={"cancel_after_perform": "refuse"})
    payme = PaymeClient(account, clock=clock)
    pay = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()["id"]
    Payment.objects.filter(pk=pay).update(expires_at=None)
    payme_id, _, _ = payme.pay(pay, AMOUNT)
    assert error_code(payme.cancel(payme_id, 5)) == -31007
    created_and_cancelled = new_payme_id()
    other = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()["id"]
    Payment.objects.filter(pk=other).update(expires_at=None)
    payme.create(other, AMOUNT, payme_id=created_and_cancelled)
    assert payme.cancel(created_and_cancelled, 2)["result"]["state"] == -1


def test_a_refund_already_made_in_kassa_leaves_nothing_to_cancel(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], org: Any
) -> None:
    pay = new_payment()["id"]
    payme_id, _, _ = payme.pay(pay, AMOUNT)
    from kassa.payments.refunds import record_gateway_refund

    record_gateway_refund(pay, amount=AMOUNT, gateway_reference="cabinet-1")
    assert error_code(payme.cancel(payme_id, 5)) == -31007
    assert_ledger_balanced(org.id)


def test_kassas_refund_api_points_to_paymes_cabinet(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], api: Any
) -> None:
    pay = new_payment()["id"]
    payme.pay(pay, AMOUNT)
    response = api.post("/v1/refunds", {"payment": pay})
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "refund_not_allowed"


# -- the 12-hour rule ------------------------------------------------------------------------------


def test_perform_after_twelve_hours_cancels_with_reason_4(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], clock: Clock, org: Any
) -> None:
    pay = new_payment()["id"]
    payme_id = new_payme_id()
    payme.create(pay, AMOUNT, payme_id=payme_id)
    clock.advance(TIMEOUT + 1)
    reply = payme.perform(payme_id)
    assert error_code(reply) == -31008
    assert reply["error"]["message"]["en"] == "The transaction has expired."
    record = txn(payme_id)
    assert (record.state, record.reason, record.cancel_time) == (-1, 4, NOW_MS + TIMEOUT + 1)
    assert status(pay) == "requires_action"
    assert error_code(payme.perform(payme_id)) == -31008
    checked = payme.check(payme_id)["result"]
    assert (checked["state"], checked["reason"]) == (-1, 4)
    assert not LedgerTransaction.objects.filter(reference=pay).exists()
    assert_ledger_balanced(org.id)


def test_exactly_twelve_hours_is_not_yet_expired(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], clock: Clock
) -> None:
    pay = new_payment()["id"]
    payme_id = new_payme_id()
    payme.create(pay, AMOUNT, payme_id=payme_id)
    clock.advance(TIMEOUT)
    assert payme.perform(payme_id)["result"]["state"] == 2


def test_the_rule_counts_from_paymes_time_not_ours(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], clock: Clock
) -> None:
    """Payme created it 11 hours before it reached us; one more hour and a bit expires it."""
    pay = new_payment()["id"]
    payme_id = new_payme_id()
    payme.create(pay, AMOUNT, payme_id=payme_id, time=clock() - 11 * HOUR_MS)
    clock.advance(HOUR_MS + 1)
    assert error_code(payme.create(pay, AMOUNT, payme_id=payme_id, time=NOW_MS - 11 * HOUR_MS)) == (
        -31008
    )
    assert (txn(payme_id).state, txn(payme_id).reason) == (-1, 4)


def test_a_repeated_create_of_an_expired_transaction_cancels_it(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], clock: Clock
) -> None:
    """The official Kotlin template's case: Create twice with an old time; the repeat is -31008."""
    pay = new_payment()["id"]
    payme_id = new_payme_id()
    old = 1399114284039
    assert payme.create(pay, AMOUNT, payme_id=payme_id, time=old)["result"]["state"] == 1
    assert error_code(payme.create(pay, AMOUNT, payme_id=payme_id, time=old)) == -31008
    assert (txn(payme_id).state, txn(payme_id).reason) == (-1, 4)


def test_an_expired_transaction_no_longer_blocks_the_order(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], clock: Clock, org: Any
) -> None:
    pay = new_payment()["id"]
    stale = new_payme_id()
    payme.create(pay, AMOUNT, payme_id=stale)
    assert error_code(payme.check_perform(pay, AMOUNT)) == -31051
    clock.advance(TIMEOUT + 1)
    assert payme.check_perform(pay, AMOUNT)["result"] == {"allow": True}
    fresh = new_payme_id()
    assert payme.create(pay, AMOUNT, payme_id=fresh)["result"]["state"] == 1
    assert (txn(stale).state, txn(stale).reason) == (-1, 4)
    assert payme.perform(fresh)["result"]["state"] == 2
    assert status(pay) == "succeeded"
    assert_ledger_balanced(org.id)


def test_cancel_still_works_after_the_timeout(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], clock: Clock
) -> None:
    """Payme itself cancels a timed-out transaction with reason 4."""
    pay = new_payment()["id"]
    payme_id = new_payme_id()
    payme.create(pay, AMOUNT, payme_id=payme_id)
    clock.advance(TIMEOUT + 10)
    assert payme.cancel(payme_id, 4)["result"]["state"] == -1
    assert (txn(payme_id).state, txn(payme_id).reason) == (-1, 4)
    assert status(pay) == "requires_action"


# -- every error code ---------------------------------------------------------------------------


def test_every_error_code(
    payme: PaymeClient,
    new_payment: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    api: Any,
) -> None:
    seen: dict[int, dict[str, Any]] = {}

    def expect(code: int, reply: dict[str, Any], data: Any = ...) -> None:
        assert error_code(reply) == code, reply
        if data is not ...:
            assert reply["error"]["data"] == data, reply
        message = reply["error"]["message"]
        assert set(message) == {"ru", "uz", "en"} and all(message.values()), message
        seen[code] = message

    pay = new_payment()["id"]
    expect(-32300, payme.raw(b"", method="get"))
    expect(-32700, payme.raw(b"{not json"))
    expect(-32600, payme.raw(b'{"method": "CheckTransaction", "params": {}}'))
    wrong_key = PaymeClient(payme.account, key="wrong-key", clock=payme.clock)
    expect(-32504, wrong_key.check_perform(pay, AMOUNT))
    expect(-32601, payme.call("Refund", {}), "Refund")
    expect(-31050, payme.check_perform("pay_nope", AMOUNT), "order_id")
    expect(-31001, payme.check_perform(pay, AMOUNT + 1), "amount")
    expect(-31003, payme.perform(new_payme_id()), "id")
    busy = new_payme_id()
    payme.create(pay, AMOUNT, payme_id=busy)
    expect(-31051, payme.create(pay, AMOUNT), "order_id")
    payme.perform(busy)
    expect(-31052, payme.check_perform(pay, AMOUNT), "order_id")
    expect(-31008, payme.create(pay, AMOUNT, payme_id=busy), "transaction")
    closed = new_payment()["id"]
    api.post(f"/v1/payments/{closed}/cancel")
    expect(-31053, payme.check_perform(closed, AMOUNT), "order_id")
    final = Payment.objects.get(pk=pay)
    monkeypatch.setattr(purposes.Purpose, "refundable", False)
    expect(-31007, payme.cancel(busy, 5), "transaction")
    monkeypatch.setattr(
        payme_services, "METHODS", {**payme_services.METHODS, "CheckTransaction": _boom}
    )
    expect(-32400, payme.check(busy))
    assert sorted(seen) == sorted(
        [
            -32300,
            -32700,
            -32600,
            -32504,
            -32601,
            -32400,
            -31001,
            -31003,
            -31007,
            -31008,
            -31050,
            -31051,
            -31052,
            -31053,
        ]
    )
    assert seen[-31050] == {
        "ru": "Заказ не найден.",
        "uz": "Buyurtma topilmadi.",
        "en": "The order is not found.",
    }
    assert seen[-32504]["en"] == "Insufficient privilege to perform this method."
    assert final.status == "succeeded"


def _boom(ctx: Any, params: Any) -> Any:
    raise RuntimeError("database is down")


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"CheckTransaction"',
        b'{"method": 5, "params": {}, "id": 1}',
        b'{"method": "CheckTransaction", "params": [], "id": 1}',
        b'{"method": "CheckTransaction", "id": 1}',
        b'{"params": {}, "id": 1}',
        b'{"method": "CheckTransaction", "params": {}, "id": true}',
    ],
)
def test_invalid_json_rpc_objects(payme: PaymeClient, body: bytes) -> None:
    reply = payme.raw(body)
    assert error_code(reply) == -32600, reply


@pytest.mark.parametrize(
    ("method", "params", "data"),
    [
        ("CreateTransaction", {"time": NOW_MS, "amount": AMOUNT, "account": {}}, "id"),
        ("CreateTransaction", {"id": 5, "time": NOW_MS, "amount": AMOUNT, "account": {}}, "id"),
        ("CreateTransaction", {"id": "x" * 24, "time": "now", "amount": AMOUNT}, "time"),
        ("PerformTransaction", {}, "id"),
        ("CancelTransaction", {"id": "x" * 24}, "reason"),
        ("CancelTransaction", {"id": "x" * 24, "reason": "5"}, "reason"),
        ("CheckTransaction", {"id": ""}, "id"),
        ("GetStatement", {"from": NOW_MS}, "to"),
        ("GetStatement", {"from": NOW_MS + 1, "to": NOW_MS}, "from"),
        ("SetFiscalData", {"id": "x" * 24, "type": "SALE", "fiscal_data": {}}, "type"),
        ("SetFiscalData", {"id": "x" * 24, "type": "PERFORM", "fiscal_data": 1}, "fiscal_data"),
    ],
)
def test_invalid_params_are_minus_32600_naming_the_param(
    payme: PaymeClient, method: str, params: dict[str, Any], data: str
) -> None:
    reply = payme.call(method, params)
    assert error_code(reply) == -32600, reply
    assert reply["error"]["data"] == data


@pytest.mark.parametrize("amount", [0, -5, "150000", 1500.5, None, True])
def test_an_amount_that_is_not_a_positive_integer_is_wrong(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], amount: Any
) -> None:
    pay = new_payment()["id"]
    reply = payme.call("CheckPerformTransaction", {"amount": amount, "account": {"order_id": pay}})
    assert error_code(reply) == -31001


@pytest.mark.parametrize("account", [None, {}, {"order_id": ""}, {"phone": "x"}, {"order_id": []}])
def test_a_missing_account_field_is_minus_31050_naming_it(payme: PaymeClient, account: Any) -> None:
    reply = payme.call("CheckPerformTransaction", {"amount": AMOUNT, "account": account})
    assert error_code(reply) == -31050
    assert reply["error"]["data"] == "order_id"


def test_nothing_changes_on_an_error(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]]
) -> None:
    pay = new_payment()["id"]
    assert error_code(payme.create(pay, AMOUNT - 1)) == -31001
    assert error_code(payme.create("pay_missing", AMOUNT)) == -31050
    reply = payme.call(
        "CreateTransaction",
        {"id": new_payme_id(), "time": NOW_MS, "amount": AMOUNT, "account": {"order_id": pay}},
        authorization=None,
    )
    assert error_code(reply) == -32504
    assert not PaymeTransaction.objects.exists()
    assert status(pay) == "pending"


def test_an_internal_failure_is_minus_32400_and_rolls_back(
    payme: PaymeClient,
    new_payment: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pay = new_payment()["id"]
    payme_id = new_payme_id()
    payme.create(pay, AMOUNT, payme_id=payme_id)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("ledger unavailable")

    monkeypatch.setattr("kassa.payments.ledger.post_success", broken)
    assert error_code(payme.perform(payme_id)) == -32400
    assert txn(payme_id).state == 1 and status(pay) == "processing"
    monkeypatch.undo()
    monkeypatch.setattr(payme_services, "clock", lambda: NOW_MS)
    assert payme.perform(payme_id)["result"]["state"] == 2


# -- auth ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer " + KEY,
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(KEY.encode()).decode(),  # no login:
        basic_auth(KEY[:-1]),
        basic_auth(KEY + "x"),
    ],
)
def test_bad_authorization_is_minus_32504(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], header: str | None
) -> None:
    pay = new_payment()["id"]
    reply = payme.call(
        "CheckPerformTransaction",
        {"amount": AMOUNT, "account": {"order_id": pay}},
        authorization=header,
    )
    assert error_code(reply) == -32504


def test_the_spec_vector_and_any_login_by_default(
    org: Any, new_payment: Callable[..., dict[str, Any]], clock: Clock
) -> None:
    account = make_payme_account(org, key="TEST_KEY")
    pay = new_payment()["id"]
    reply = PaymeClient(account, key="TEST_KEY", clock=clock).call(
        "CheckPerformTransaction",
        {"amount": AMOUNT, "account": {"order_id": pay}},
        authorization="Basic UGF5Y29tOlRFU1RfS0VZ",  # Paycom:TEST_KEY (spec §1.1)
    )
    assert reply["result"] == {"allow": True}
    other_login = PaymeClient(account, key="TEST_KEY", login="Merchant", clock=clock)
    assert other_login.check_perform(pay, AMOUNT)["result"] == {"allow": True}


def test_the_login_option_requires_the_login(
    org: Any, new_payment: Callable[..., dict[str, Any]], clock: Clock
) -> None:
    account = make_payme_account(org, options={"login": "Paycom"})
    pay = new_payment()["id"]
    assert PaymeClient(account, clock=clock).check_perform(pay, AMOUNT)["result"]
    wrong = PaymeClient(account, login="paycom", clock=clock).check_perform(pay, AMOUNT)
    assert error_code(wrong) == -32504


def test_change_password_replaces_the_key(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], clock: Clock
) -> None:
    pay = new_payment()["id"]
    new_key = "NEW_KEY_abcdefghijklmnopqrstuvwxyz012"
    assert error_code(payme.change_password(KEY)) == -32504
    assert error_code(payme.change_password("")) == -31050
    assert payme.change_password(new_key)["result"] == {"success": True}
    account = GatewayAccount.objects.get(pk=payme.account.id)
    assert account.credentials["key"] == new_key
    assert new_key not in account.credentials_encrypted
    assert error_code(payme.check_perform(pay, AMOUNT)) == -32504
    renewed = PaymeClient(account, key=new_key, clock=clock)
    assert renewed.check_perform(pay, AMOUNT)["result"] == {"allow": True}
    from kassa.core.models import AuditLogEntry

    assert AuditLogEntry.objects.filter(action="gateway_account.updated").exists()


# -- CheckTransaction, GetStatement, SetFiscalData ---------------------------------------------------


def test_check_transaction_of_a_created_one_and_the_null_option(
    org: Any, api: Any, clock: Clock
) -> None:
    zero = PaymeClient(make_payme_account(org), clock=clock)
    null = PaymeClient(
        make_payme_account(org, is_default=False, options={"null_unset_times": True}), clock=clock
    )
    for client, unset in ((zero, 0), (null, None)):
        pay = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()["id"]
        Payment.objects.filter(pk=pay).update(expires_at=None)
        payme_id = new_payme_id()
        client.create(pay, AMOUNT, payme_id=payme_id)
        assert client.check(payme_id)["result"] == {
            "create_time": NOW_MS,
            "perform_time": unset,
            "cancel_time": unset,
            "transaction": str(txn(payme_id).pk),
            "state": 1,
            "reason": None,
        }


def test_get_statement_is_by_paymes_time_inclusive_and_ascending(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], clock: Clock, org: Any
) -> None:
    times = [NOW_MS + 3_000, NOW_MS + 1_000, NOW_MS + 2_000, NOW_MS + 9_000]
    ids = []
    for time in times:
        pay = new_payment()["id"]
        payme_id = new_payme_id()
        payme.create(pay, AMOUNT, payme_id=payme_id, time=time)
        ids.append((time, payme_id, pay))
    payme.perform(ids[0][1])
    # Another account's transactions are not in this account's statement.
    other = PaymeClient(make_payme_account(org, is_default=False), clock=clock)
    stranger = new_payment()["id"]
    other.create(stranger, AMOUNT, time=NOW_MS + 2_000)
    listed = payme.statement(NOW_MS + 1_000, NOW_MS + 3_000)["result"]["transactions"]
    assert [t["time"] for t in listed] == [NOW_MS + 1_000, NOW_MS + 2_000, NOW_MS + 3_000]
    first = next(t for t in listed if t["id"] == ids[0][1])
    assert first == {
        "id": ids[0][1],
        "time": NOW_MS + 3_000,
        "amount": AMOUNT,
        "account": {"order_id": ids[0][2]},
        "create_time": NOW_MS,
        "perform_time": NOW_MS,
        "cancel_time": 0,
        "transaction": str(txn(ids[0][1]).pk),
        "state": 2,
        "reason": None,
        "receivers": None,
    }
    assert (
        payme.statement(NOW_MS + 9_000, NOW_MS + 9_000)["result"]["transactions"][0]["id"]
        == (ids[3][1])
    )
    assert payme.statement(0, NOW_MS)["result"] == {"transactions": []}


def test_set_fiscal_data_is_stored(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]]
) -> None:
    pay = new_payment()["id"]
    payme_id, _, _ = payme.pay(pay, AMOUNT)
    fiscal = {
        "receipt_id": 121,
        "status_code": 0,
        "message": "accepted",
        "terminal_id": "EP000000000025",
        "fiscal_sign": "800031554082",
        "qr_code_url": "https://ofd.soliq.uz/epi?t=EP000000000025&r=121",
        "date": "20220706221021",
    }
    assert payme.set_fiscal_data(payme_id, "PERFORM", fiscal)["result"] == {"success": True}
    assert payme.set_fiscal_data(payme_id, "PERFORM", fiscal)["result"] == {"success": True}
    assert txn(payme_id).fiscal_data == {"PERFORM": fiscal}
    assert error_code(payme.set_fiscal_data(new_payme_id(), "PERFORM", fiscal)) == -31003


# -- which orders an account may touch --------------------------------------------------------------


def test_another_organizations_payment_and_transaction_do_not_exist(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], clock: Clock
) -> None:
    pay = new_payment()["id"]
    payme_id = new_payme_id()
    payme.create(pay, AMOUNT, payme_id=payme_id)
    intruder = PaymeClient(make_payme_account(make_org("Intruder")), clock=clock)
    assert error_code(intruder.check_perform(pay, AMOUNT)) == -31050
    assert error_code(intruder.create(pay, AMOUNT)) == -31050
    for reply in (
        intruder.perform(payme_id),
        intruder.cancel(payme_id, 3),
        intruder.check(payme_id),
        intruder.set_fiscal_data(payme_id, "PERFORM", {}),
    ):
        assert error_code(reply) == -31003
    assert intruder.statement(0, NOW_MS * 2)["result"] == {"transactions": []}
    assert status(pay) == "processing" and txn(payme_id).state == 1


def test_a_test_account_never_touches_a_live_payment(org: Any, make_api: Any, clock: Clock) -> None:
    live_account = make_payme_account(org, test_mode=False)
    test_payme = PaymeClient(make_payme_account(org, test_mode=True), clock=clock)
    pay = make_api(org, "live").post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"})
    pay_id = pay.json()["id"]
    Payment.objects.filter(pk=pay_id).update(expires_at=None)
    assert error_code(test_payme.check_perform(pay_id, AMOUNT)) == -31050
    PaymeClient(live_account, clock=clock).pay(pay_id, AMOUNT)
    assert status(pay_id) == "succeeded"


def test_a_payment_in_another_currency_does_not_exist_for_payme(
    api: Any, sandbox: GatewayAccount, payme: PaymeClient
) -> None:
    pay = api.post(
        "/v1/payments", {"amount": 1500, "currency": "EUR", "gateway_account": sandbox.id}
    ).json()["id"]
    assert error_code(payme.check_perform(pay, 1500)) == -31050


def test_a_payment_started_elsewhere_moves_to_payme_when_paid_there(
    org: Any, api: Any, sandbox: GatewayAccount, payme: PaymeClient
) -> None:
    pay = api.post(
        "/v1/payments", {"amount": AMOUNT, "currency": "UZS", "gateway_account": sandbox.id}
    ).json()["id"]
    Payment.objects.filter(pk=pay).update(expires_at=None)
    payme.pay(pay, AMOUNT)
    payment = Payment.objects.get(pk=pay)
    assert payment.status == "succeeded" and payment.gateway_account_id == payme.account.id
    assert balances(org.id)[f"gateway_clearing:{payme.account.id}"] == -AMOUNT
    assert_ledger_balanced(org.id)


def test_an_expired_checkout_cannot_be_paid(payme: PaymeClient, api: Any, clock: Clock) -> None:
    pay = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()["id"]
    payment = Payment.objects.get(pk=pay)
    assert payment.expires_at is not None
    clock.now = int(payment.expires_at.timestamp() * 1000) + 1
    assert error_code(payme.check_perform(pay, AMOUNT)) == -31053
    assert error_code(payme.create(pay, AMOUNT)) == -31053


def test_a_payment_another_gateway_holds_is_busy(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]]
) -> None:
    pay = new_payment()["id"]
    payment_services.transition(pay, "processing", source=payment_services.Source.GATEWAY)
    assert error_code(payme.check_perform(pay, AMOUNT)) == -31051
    assert error_code(payme.create(pay, AMOUNT)) == -31051


def test_staff_marking_it_paid_makes_perform_refuse(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], org: Any
) -> None:
    pay = new_payment()["id"]
    payme_id = new_payme_id()
    payme.create(pay, AMOUNT, payme_id=payme_id)
    payment_services.transition(pay, "succeeded", source=payment_services.Source.STAFF)
    assert error_code(payme.perform(payme_id)) == -31008
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert_ledger_balanced(org.id)


def test_a_disabled_account_takes_no_new_payments_but_finishes_started_ones(
    payme: PaymeClient, new_payment: Callable[..., dict[str, Any]], api: Any
) -> None:
    started = new_payment()["id"]
    payme_id = new_payme_id()
    payme.create(started, AMOUNT, payme_id=payme_id)
    fresh = new_payment()["id"]
    assert api.post(f"/v1/gateway_accounts/{payme.account.id}/disable").status_code == 200
    assert error_code(payme.check_perform(fresh, AMOUNT)) == -31050
    assert error_code(payme.create(fresh, AMOUNT)) == -31050
    assert payme.perform(payme_id)["result"]["state"] == 2


def test_a_custom_account_field(org: Any, api: Any, clock: Clock) -> None:
    account = make_payme_account(org, options={"account_field": "booking"})
    payme = PaymeClient(account, field="booking", clock=clock)
    pay = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()["id"]
    Payment.objects.filter(pk=pay).update(expires_at=None)
    reply = PaymeClient(account, clock=clock).check_perform(pay, AMOUNT)  # sends order_id
    assert error_code(reply) == -31050 and reply["error"]["data"] == "booking"
    payme.pay(pay, AMOUNT)
    assert status(pay) == "succeeded"


def test_unknown_gateway_account_is_404() -> None:
    response = Client().post("/hooks/payme/gwa_unknown", b"{}", content_type="text/json")
    assert response.status_code == 404


# -- checkout, configuration, admin ----------------------------------------------------------------


def test_the_checkout_link_matches_the_spec_vector(payme_account: GatewayAccount) -> None:
    from kassa.payments.gateways.registry import gateway_for

    gateway = gateway_for(payme_account)
    link = gateway.checkout_link("123", 150000, "https://example.com/return")  # type: ignore[attr-defined]
    host, encoded = link.rsplit("/", 1)
    assert host == "https://test.paycom.uz"
    assert base64.b64decode(encoded).decode() == (
        f"m={MERCHANT_ID};ac.order_id=123;a=150000;c=https://example.com/return"
    )


def test_the_hosted_checkout_sends_the_customer_to_payme(
    org: Any, api: Any, shopper: Any, clock: Clock, make_api: Any
) -> None:
    account = make_payme_account(org, options={"account_field": "invoice"})
    payment = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()
    location = shopper.choose(payment["checkout_url"], account.id)
    host, encoded = location.rsplit("/", 1)
    assert host == "https://test.paycom.uz"
    fields = dict(part.split("=", 1) for part in base64.b64decode(encoded).decode().split(";"))
    assert fields == {
        "m": MERCHANT_ID,
        "ac.invoice": payment["id"],
        "a": str(AMOUNT),
        "c": payment["checkout_url"] + "/return",
    }
    Payment.objects.filter(pk=payment["id"]).update(expires_at=None)
    PaymeClient(account, field="invoice", clock=clock).pay(fields["ac.invoice"], int(fields["a"]))
    assert shopper.client.get(path_of(fields["c"])).status_code == 200
    assert status(payment["id"]) == "succeeded"
    assert_ledger_balanced(org.id)
    live = make_payme_account(org, test_mode=False)
    live_payment = (
        make_api(org, "live").post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()
    )
    assert shopper.choose(live_payment["checkout_url"], live.id).startswith(
        "https://checkout.paycom.uz/"
    )


def test_creating_a_payme_account_through_the_api(api: Any) -> None:
    created = api.post(
        "/v1/gateway_accounts",
        {"provider": "payme", "credentials": {"merchant_id": MERCHANT_ID, "key": KEY}},
    )
    assert created.status_code == 200, created.content
    body = created.json()
    assert body["callback_urls"] == {
        "endpoint": f"{settings.KASSA_BASE_URL}/hooks/payme/{body['id']}"
    }
    assert KEY not in created.content.decode()
    assert body["currencies"] == ["UZS"]
    assert body["capabilities"]["merchant_api"] is True
    assert body["options"] == {
        "account_field": "order_id",
        "null_unset_times": False,
        "cancel_after_perform": "refund",
    }


@pytest.mark.parametrize(
    ("credentials", "options", "param"),
    [
        ({"key": KEY}, {}, "credentials.merchant_id"),
        ({"merchant_id": MERCHANT_ID}, {}, "credentials.key"),
        ({"merchant_id": "bad id!", "key": KEY}, {}, "credentials.merchant_id"),
        (
            {"merchant_id": MERCHANT_ID, "key": KEY},
            {"account_field": "a b"},
            "options.account_field",
        ),
        ({"merchant_id": MERCHANT_ID, "key": KEY}, {"login": "a:b"}, "options.login"),
        (
            {"merchant_id": MERCHANT_ID, "key": KEY},
            {"null_unset_times": "maybe"},
            "options.null_unset_times",
        ),
        (
            {"merchant_id": MERCHANT_ID, "key": KEY},
            {"cancel_after_perform": "sometimes"},
            "options.cancel_after_perform",
        ),
    ],
)
def test_payme_configuration_is_checked(
    api: Any, credentials: dict[str, str], options: dict[str, Any], param: str
) -> None:
    response = api.post(
        "/v1/gateway_accounts",
        {"provider": "payme", "credentials": credentials, "options": options},
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param


def test_the_admin_shows_the_url_the_help_and_the_transactions(
    org: Any, payme_account: GatewayAccount, clock: Clock
) -> None:
    from kassa.core.services import add_staff_member

    add_staff_member(
        org, email="o@x.test", role="owner", password="pw-123456-x", actor=Actor.system("t")
    )
    admin = Client()
    assert admin.login(username="o@x.test", password="pw-123456-x")
    page = admin.get(f"/admin/payments/gatewayaccount/{payme_account.id}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f"/hooks/payme/{payme_account.id}" in text
    assert "TEST_KEY" in text  # the key's help
    assert KEY not in text
    assert "account_field" in text and "UNCONFIRMED" in text
    assert "kassa-test" in admin.get("/admin/payments/gatewayaccount/").content.decode()
    pay = Payment.objects.create(organization=org, amount=AMOUNT, currency="UZS")
    payme_id, _, _ = PaymeClient(payme_account, clock=clock).pay(pay.id, AMOUNT)
    found = admin.get(f"/admin/payments/paymetransaction/?q={payme_id}").content.decode()
    assert payme_id in found and pay.id in found
    detail = admin.get(f"/admin/payments/paymetransaction/{txn(payme_id).pk}/change/")
    assert detail.status_code == 200
    add_staff_member(
        make_org("Other"),
        email="x@y.test",
        role="owner",
        password="pw-123456-x",
        actor=Actor.system("t"),
    )
    intruder = Client()
    assert intruder.login(username="x@y.test", password="pw-123456-x")
    hidden = intruder.get(f"/admin/payments/paymetransaction/?q={payme_id}").content.decode()
    assert pay.id not in hidden


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("CheckPerformTransaction", {"amount": AMOUNT, "account": {"order_id": "pay_\u0000"}}),
        ("CheckPerformTransaction", {"amount": AMOUNT, "account": {"order_id\u0000": "x"}}),
        (
            "CreateTransaction",
            {"id": "\u0000" * 24, "time": 1, "amount": AMOUNT, "account": {"order_id": "x"}},
        ),
        ("PerformTransaction", {"id": "a\u0000b"}),
        ("CancelTransaction", {"id": "\ud800", "reason": 1}),
        ("CheckTransaction", {"id": "\u0000"}),
    ],
)
def test_text_that_cannot_be_stored_is_a_json_rpc_error(
    payme: PaymeClient, method: str, params: dict[str, Any]
) -> None:
    """Even from an authenticated caller: an error in Payme's protocol, not an HTTP 500."""
    reply = payme.call(method, params)
    assert "error" in reply, reply
    assert PaymeTransaction.objects.count() == 0
