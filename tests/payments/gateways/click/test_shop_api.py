"""Click SHOP API end to end: a test client plays Click against /hooks/click/<gwa>/prepare and
/complete; the hosted checkout sends the customer to Click; the ledger stays balanced."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from kassa.core.actors import Actor
from kassa.events.models import Event
from kassa.ledger.models import LedgerTransaction
from kassa.payments import services as payment_services
from kassa.payments.gateways.click import services as click_services
from kassa.payments.gateways.click.models import ClickTransaction
from kassa.payments.gateways.click.tasks import release_stale_click_reservations
from kassa.payments.models import GatewayAccount, Payment
from kassa.payments.tasks import reconcile_payment
from tests.conftest import make_org
from tests.ledger.helpers import account_balances, assert_ledger_balanced
from tests.payments.conftest import path_of
from tests.payments.gateways.click.client import (
    MERCHANT_ID,
    SECRET,
    SERVICE_ID,
    ClickClient,
    link_params,
    make_click_account,
    md5_sign,
    so_m,
)

pytestmark = pytest.mark.django_db

AMOUNT = 150000  # 1500.00 UZS
SOM = so_m(AMOUNT)


class Clock:
    """The clock Click's timing rules read, moved by hand."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(click_services, "clock", fake)
    return fake


@pytest.fixture
def click_account(org: Any) -> GatewayAccount:
    return make_click_account(org)


@pytest.fixture
def click(click_account: GatewayAccount) -> ClickClient:
    return ClickClient(click_account)


@pytest.fixture
def new_payment(api: Any, click_account: GatewayAccount) -> Callable[..., dict[str, Any]]:
    def make(amount: int = AMOUNT, **body: Any) -> dict[str, Any]:
        created = api.post("/v1/payments", {"amount": amount, "currency": "UZS", **body})
        assert created.status_code == 200, created.content
        payment: dict[str, Any] = created.json()
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


# -- Click's own 15-scenario suite (spec §2.5) --------------------------------------------------


@pytest.mark.parametrize("amount", ["1500.00", "1500", "1500.0"])
def test_clicks_fifteen_scenario_suite(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]], org: Any, amount: str
) -> None:
    """One run of Click's Postman generator: scenarios 1-8 on one order, 9-11 on a fresh one,
    12-15 on another (as the generator's instructions say), in order."""
    a, b, c = (new_payment()["id"] for _ in range(3))
    t1, t2, t3 = (click.new_trans_id() for _ in range(3))
    ids: dict[int, int] = {}
    bad_sign = {"sign_string": "0" * 32}
    steps: list[tuple[int, Callable[[], dict[str, Any]], int]] = [
        (1, lambda: click.prepare(a, amount, click_trans_id=t1, tamper=bad_sign), -1),
        (2, lambda: click.prepare("pay_00000000000000000000000000", amount, click_trans_id=t1), -5),
        (3, lambda: click.prepare(a, amount, click_trans_id=t1), 0),
        (4, lambda: click.complete(a, amount, ids[3], click_trans_id=t1, tamper=bad_sign), -1),
        (5, lambda: click.complete(a, "300", ids[3], click_trans_id=t1), -2),
        (6, lambda: click.complete(a, amount, ids[3], click_trans_id=t1), 0),
        (7, lambda: click.complete(a, amount, ids[3], click_trans_id=t1), -4),
        (8, lambda: click.complete(a, amount, ids[3], click_trans_id=t1, error=-5017), -9),
        (9, lambda: click.prepare(b, amount, click_trans_id=t2), 0),
        (10, lambda: click.complete(b, amount, 999999999, click_trans_id=t2), -6),
        (11, lambda: click.complete(b, amount, ids[9], click_trans_id=t2), 0),
        (12, lambda: click.prepare(c, amount, click_trans_id=t3), 0),
        (13, lambda: click.complete(c, amount, ids[12], click_trans_id=t3, error=-5017), -9),
        (14, lambda: click.complete(c, amount, ids[12], click_trans_id=t3, error=-5017), -9),
        (15, lambda: click.complete(c, amount, ids[12], click_trans_id=t3), -9),
    ]
    for number, send, expected in steps:
        reply = send()
        assert reply["error"] == expected, (number, reply)
        if number in (3, 9, 12):
            assert isinstance(reply["merchant_prepare_id"], int)
            ids[number] = reply["merchant_prepare_id"]
        if number in (6, 11):
            assert reply["merchant_confirm_id"] == ids[{6: 3, 11: 9}[number]]
    assert [status(a), status(b), status(c)] == ["succeeded", "succeeded", "requires_action"]
    assert balances(org.id) == {
        f"gateway_clearing:{click.account.id}": -2 * AMOUNT,
        "payments_received:": 2 * AMOUNT,
    }
    for paid in (a, b):
        assert LedgerTransaction.objects.filter(reference=paid).count() == 1
    assert_ledger_balanced(org.id)


# -- every error code ---------------------------------------------------------------------------


def test_every_error_code(
    click: ClickClient, click_account: GatewayAccount, new_payment: Callable[..., dict[str, Any]]
) -> None:
    seen: dict[int, str] = {}

    def expect(code: int, reply: dict[str, Any]) -> dict[str, Any]:
        assert reply["error"] == code, reply
        seen[code] = reply["error_note"]
        return reply

    pay = new_payment()["id"]
    trans = click.new_trans_id()
    expect(-1, click.prepare(pay, SOM, click_trans_id=trans, tamper={"sign_string": "f" * 32}))
    expect(-2, click.prepare(pay, "1500.001", click_trans_id=trans))
    expect(-3, click.prepare(pay, SOM, click_trans_id=trans, tamper={"action": "2"}))
    expect(-5, click.prepare("pay_nope", SOM, click_trans_id=trans))
    expect(-8, click.post("prepare", "click_trans_id=1&action=0"))
    prepared = expect(0, click.prepare(pay, SOM, click_trans_id=trans))
    expect(-7, click.prepare(pay, SOM))  # another attempt while this one holds the order
    expect(-6, click.complete(pay, SOM, prepared["merchant_prepare_id"] + 1, click_trans_id=trans))
    expect(0, click.complete(pay, SOM, prepared["merchant_prepare_id"], click_trans_id=trans))
    expect(-4, click.complete(pay, SOM, prepared["merchant_prepare_id"], click_trans_id=trans))
    other = new_payment()["id"]
    expect(-9, click.pay(other, SOM, error=-5017)[1])
    assert sorted(seen) == [-9, -8, -7, -6, -5, -4, -3, -2, -1, 0]
    assert seen == {
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


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"service_id": "999"}, -8),  # signed with the right secret, for another service
        ({"click_trans_id": "abc"}, -8),
        ({"click_paydoc_id": ""}, -8),
        ({"sign_time": ""}, -8),
        ({"error": "x"}, -8),
        ({"action": "5"}, -3),
    ],
)
def test_malformed_prepare_requests(
    click: ClickClient,
    new_payment: Callable[..., dict[str, Any]],
    change: dict[str, str],
    code: int,
) -> None:
    pay = new_payment()["id"]
    fields = click.fields(0, pay, SOM, click_trans_id=click.new_trans_id())
    fields.update(change)
    if change.get("action") != "5":
        fields["sign_string"] = md5_sign(fields, SECRET)  # so only the field itself is wrong
    assert click.post("prepare", fields)["error"] == code
    assert status(pay) == "pending"
    assert not ClickTransaction.objects.exists()


def test_wrong_secret_is_a_signature_failure(
    click_account: GatewayAccount, new_payment: Callable[..., dict[str, Any]]
) -> None:
    forger = ClickClient(click_account, secret="guessed")
    pay = new_payment()["id"]
    reply = forger.prepare(pay, SOM)
    assert reply["error"] == -1
    assert reply["merchant_trans_id"] == pay
    assert status(pay) == "pending"


def test_requests_that_are_not_form_posts(click: ClickClient) -> None:
    client = Client()
    got = client.get(click.url("prepare"))
    assert got.status_code == 200 and got.json()["error"] == -8
    as_json = client.post(click.url("complete"), {"action": 1}, content_type="application/json")
    assert as_json.json()["error"] == -8
    assert "merchant_confirm_id" in as_json.json()
    assert click.post("refund", "action=0")["error"] == -3
    unknown = client.post(
        "/hooks/click/gwa_unknown/prepare", "", content_type="application/x-www-form-urlencoded"
    )
    assert unknown.status_code == 404


def test_both_urls_accept_both_actions(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]]
) -> None:
    """Click lets a merchant give one URL for both; the signed action decides."""
    pay = new_payment()["id"]
    trans = click.new_trans_id()
    prepared = click.post("complete", click.fields(0, pay, SOM, click_trans_id=trans))
    assert prepared["error"] == 0 and "merchant_prepare_id" in prepared
    completed = click.post(
        "prepare",
        click.fields(1, pay, SOM, click_trans_id=trans, prepare_id=prepared["merchant_prepare_id"]),
    )
    assert completed["error"] == 0 and completed["merchant_confirm_id"]
    assert status(pay) == "succeeded"


# -- the payment's life ---------------------------------------------------------------------------


def test_prepare_reserves_and_complete_pays(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]], api: Any, org: Any
) -> None:
    pay = new_payment(description="Tour balance")["id"]
    trans = click.new_trans_id()
    prepared = click.prepare(pay, SOM, click_trans_id=trans)
    assert prepared == {
        "click_trans_id": trans,
        "merchant_trans_id": pay,
        "merchant_prepare_id": prepared["merchant_prepare_id"],
        "error": 0,
        "error_note": "Success",
    }
    shown = api.get(f"/v1/payments/{pay}").json()
    assert shown["status"] == "processing" and shown["checkout_url"] is None
    assert shown["gateway_reference"] == str(trans)
    # Reserved: the merchant cannot cancel it under Click's feet.
    assert api.post(f"/v1/payments/{pay}/cancel").status_code == 409
    completed = click.complete(pay, SOM, prepared["merchant_prepare_id"], click_trans_id=trans)
    assert completed == {
        "click_trans_id": trans,
        "merchant_trans_id": pay,
        "merchant_confirm_id": prepared["merchant_prepare_id"],
        "error": 0,
        "error_note": "Success",
    }
    assert status(pay) == "succeeded"
    attempt = ClickTransaction.objects.get(click_trans_id=trans)
    assert attempt.status == "confirmed" and attempt.amount == SOM
    assert attempt.click_paydoc_id == trans + 1_000_000
    assert event_types(pay) == ["payment.created", "payment.processing", "payment.succeeded"]
    assert balances(org.id) == {
        f"gateway_clearing:{click.account.id}": -AMOUNT,
        "payments_received:": AMOUNT,
    }
    assert_ledger_balanced(org.id)


def test_refunds_are_made_in_clicks_cabinet(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]], api: Any, org: Any
) -> None:
    pay = new_payment()["id"]
    click.pay(pay, SOM)
    refused = api.post("/v1/refunds", {"payment": pay})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "refund_not_allowed"
    assert status(pay) == "succeeded"
    assert balances(org.id)["payments_received:"] == AMOUNT
    assert_ledger_balanced(org.id)


def test_repeated_prepare_is_answered_the_same(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]]
) -> None:
    pay = new_payment()["id"]
    trans = click.new_trans_id()
    first = click.prepare(pay, SOM, click_trans_id=trans)
    again = click.prepare(pay, SOM, click_trans_id=trans)
    assert again == first
    assert ClickTransaction.objects.count() == 1
    click.complete(pay, SOM, first["merchant_prepare_id"], click_trans_id=trans)
    # "Order was previously confirmed": Prepare of a paid click_trans_id is -4.
    assert click.prepare(pay, SOM, click_trans_id=trans)["error"] == -4


def test_a_repeated_click_trans_id_never_pays_twice(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]], org: Any
) -> None:
    pay = new_payment()["id"]
    prepared, completed = click.pay(pay, SOM)
    trans = prepared["click_trans_id"]
    for _ in range(3):
        reply = click.complete(pay, SOM, prepared["merchant_prepare_id"], click_trans_id=trans)
        assert reply["error"] == -4
        assert reply["merchant_confirm_id"] == completed["merchant_confirm_id"]
    # The same click_trans_id cannot be reused for another order either.
    other = new_payment()["id"]
    assert click.prepare(other, SOM, click_trans_id=trans)["error"] == -8
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert balances(org.id)["payments_received:"] == AMOUNT
    assert_ledger_balanced(org.id)


def test_a_declined_debit_gives_the_order_back_and_a_retry_pays(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]], api: Any, org: Any
) -> None:
    payment = new_payment()
    pay = payment["id"]
    _, cancelled = click.pay(pay, SOM, error=-5017)
    assert cancelled["error"] == -9 and cancelled["merchant_confirm_id"] is None
    shown = api.get(f"/v1/payments/{pay}").json()
    assert shown["status"] == "requires_action"
    assert shown["failure_code"] == "click_-5017"
    assert shown["failure_message"] == "Insufficient funds"
    assert shown["checkout_url"]
    attempt = ClickTransaction.objects.get(payment_id=pay)
    assert attempt.status == "cancelled" and attempt.click_error == -5017
    # The customer can pay again, on our checkout or straight in Click.
    page = Client().get(path_of(payment["checkout_url"]) + "?lang=en")
    assert page.status_code == 200 and b'data-provider="click"' in page.content
    assert "The last attempt did not go through: Insufficient funds" in page.content.decode()
    _, paid = click.pay(pay, SOM)
    assert paid["error"] == 0
    shown = api.get(f"/v1/payments/{pay}").json()
    assert shown["status"] == "succeeded" and shown["failure_code"] is None
    assert event_types(pay) == [
        "payment.created",
        "payment.processing",
        "payment.requires_action",
        "payment.processing",
        "payment.succeeded",
    ]
    assert balances(org.id)["payments_received:"] == AMOUNT
    assert_ledger_balanced(org.id)


def test_prepare_with_a_click_error_is_cancelled(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]]
) -> None:
    pay = new_payment()["id"]
    trans = click.new_trans_id()
    assert click.prepare(pay, SOM, click_trans_id=trans, error=-1)["error"] == -9
    assert status(pay) == "pending" and not ClickTransaction.objects.exists()
    prepared = click.prepare(pay, SOM, click_trans_id=trans)
    assert click.prepare(pay, SOM, click_trans_id=trans, error=-3)["error"] == -9
    assert status(pay) == "requires_action"
    assert click.prepare(pay, SOM, click_trans_id=trans)["error"] == -9  # cancelled for good
    assert prepared["error"] == 0


def test_a_cancel_of_an_unknown_attempt_is_acknowledged(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]]
) -> None:
    """Click cancels attempts whose Prepare we refused: nothing to undo, answer -9."""
    pay = new_payment()["id"]
    reply = click.complete(pay, SOM, 12345, click_trans_id=click.new_trans_id(), error=-5017)
    assert reply["error"] == -9
    assert click.complete("pay_none", SOM, 1, click_trans_id=1, error=-5017)["error"] == -9
    assert status(pay) == "pending"


def test_cancel_of_a_confirmed_attempt_keeps_the_money(org: Any, api: Any) -> None:
    """Scenario 8's answer is configurable (-9 by default, -4 as the request docs suggest);
    either way the paid payment stays paid and the ledger is untouched."""
    account = make_click_account(org, options={"cancel_of_confirmed_reply": "-4"})
    assert account.options["cancel_of_confirmed_reply"] == -4
    click = ClickClient(account)
    pay = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()["id"]
    prepared, _ = click.pay(pay, SOM)
    reply = click.complete(
        pay,
        SOM,
        prepared["merchant_prepare_id"],
        click_trans_id=prepared["click_trans_id"],
        error=-5017,
    )
    assert reply["error"] == -4
    assert status(pay) == "succeeded"
    assert ClickTransaction.objects.get(payment_id=pay).status == "confirmed"
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert_ledger_balanced(org.id)


def test_a_success_after_staff_failed_the_payment_still_lands(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]], org: Any
) -> None:
    """Money Click debited is never refused: success wins over our own failed verdict."""
    pay = new_payment()["id"]
    trans = click.new_trans_id()
    prepared = click.prepare(pay, SOM, click_trans_id=trans)
    payment_services.mark_failed(
        Payment.objects.get(pk=pay), Actor.system("staff"), "customer called"
    )
    assert status(pay) == "failed"
    completed = click.complete(pay, SOM, prepared["merchant_prepare_id"], click_trans_id=trans)
    assert completed["error"] == 0
    assert status(pay) == "succeeded"
    assert_ledger_balanced(org.id)


def test_prepare_refuses_orders_that_cannot_be_paid(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]], api: Any
) -> None:
    canceled = new_payment()["id"]
    api.post(f"/v1/payments/{canceled}/cancel")
    assert click.prepare(canceled, SOM)["error"] == -9
    expired = new_payment()["id"]
    Payment.objects.filter(pk=expired).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert click.prepare(expired, SOM)["error"] == -9
    paid = new_payment()["id"]
    click.pay(paid, SOM)
    assert click.prepare(paid, SOM)["error"] == -4
    assert click.prepare(new_payment()["id"], "1499.99")["error"] == -2
    assert click.prepare(new_payment(amount=150001)["id"], SOM)["error"] == -2


def test_an_internal_failure_answers_minus_7_and_changes_nothing(
    click: ClickClient,
    new_payment: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    org: Any,
) -> None:
    pay = new_payment()["id"]
    trans = click.new_trans_id()
    prepared = click.prepare(pay, SOM, click_trans_id=trans)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(click_services, "transition", broken)
    reply = click.complete(pay, SOM, prepared["merchant_prepare_id"], click_trans_id=trans)
    assert reply["error"] == -7
    assert status(pay) == "processing"
    assert ClickTransaction.objects.get(click_trans_id=trans).status == "prepared"
    monkeypatch.undo()
    # Click retries the Complete; now it goes through.
    reply = click.complete(pay, SOM, prepared["merchant_prepare_id"], click_trans_id=trans)
    assert reply["error"] == 0 and status(pay) == "succeeded"
    assert_ledger_balanced(org.id)


# -- timing (a controllable clock) ------------------------------------------------------------------


def test_a_live_reservation_refuses_another_attempt_until_it_goes_stale(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]], clock: Clock, org: Any
) -> None:
    pay = new_payment()["id"]
    first = click.new_trans_id()
    held = click.prepare(pay, SOM, click_trans_id=first)
    clock.advance(minutes=29)
    assert click.prepare(pay, SOM)["error"] == -7
    clock.advance(minutes=2)  # 31 minutes: the default 30-minute reservation is stale
    second = click.new_trans_id()
    taken = click.prepare(pay, SOM, click_trans_id=second)
    assert taken["error"] == 0 and status(pay) == "processing"
    assert (
        click.complete(pay, SOM, taken["merchant_prepare_id"], click_trans_id=second)["error"] == 0
    )
    # The stale first attempt's late debit: the order is paid already.
    late = click.complete(pay, SOM, held["merchant_prepare_id"], click_trans_id=first)
    assert late["error"] == -4
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert_ledger_balanced(org.id)


def test_a_repeated_prepare_renews_the_reservation(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]], clock: Clock
) -> None:
    pay = new_payment()["id"]
    trans = click.new_trans_id()
    click.prepare(pay, SOM, click_trans_id=trans)
    clock.advance(minutes=20)
    click.prepare(pay, SOM, click_trans_id=trans)
    clock.advance(minutes=20)
    assert click.prepare(pay, SOM)["error"] == -7  # renewed 20 minutes ago


def test_the_periodic_job_releases_a_stale_reservation(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]], clock: Clock, org: Any
) -> None:
    pay = new_payment()["id"]
    trans = click.new_trans_id()
    prepared = click.prepare(pay, SOM, click_trans_id=trans)
    clock.advance(minutes=29)
    assert click_services.release_stale_reservations() == 0
    assert status(pay) == "processing"
    clock.advance(minutes=2)
    assert release_stale_click_reservations.call() == 1
    payment = Payment.objects.get(pk=pay)
    assert payment.status == "requires_action" and payment.failure_code == "click_timeout"
    assert click_services.release_stale_reservations() == 0
    # Click's Complete arrives late after all: the money is taken.
    late = click.complete(pay, SOM, prepared["merchant_prepare_id"], click_trans_id=trans)
    assert late["error"] == 0 and status(pay) == "succeeded"
    assert_ledger_balanced(org.id)


def test_the_reservation_timeout_is_an_option(org: Any, api: Any, clock: Clock) -> None:
    account = make_click_account(org, options={"prepare_timeout_minutes": 5})
    click = ClickClient(account)
    pay = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()["id"]
    click.prepare(pay, SOM)
    clock.advance(minutes=4)
    assert click.prepare(pay, SOM)["error"] == -7
    clock.advance(minutes=2)
    assert click.prepare(pay, SOM)["error"] == 0


def test_a_declined_payment_expires_with_its_link(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]]
) -> None:
    pay = new_payment()["id"]
    click.pay(pay, SOM, error=-5017)
    assert status(pay) == "requires_action"
    Payment.objects.filter(pk=pay).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert reconcile_payment.call(pay) == "expired"
    assert click.prepare(pay, SOM)["error"] == -9


# -- which orders an account may touch --------------------------------------------------------------


def test_another_organizations_payment_does_not_exist(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]]
) -> None:
    pay = new_payment()["id"]
    trans = click.new_trans_id()
    prepared = click.prepare(pay, SOM, click_trans_id=trans)
    # The same Click credentials configured in another organization.
    intruder = ClickClient(make_click_account(make_org("Intruder")))
    assert intruder.prepare(pay, SOM)["error"] == -5
    reply = intruder.complete(pay, SOM, prepared["merchant_prepare_id"], click_trans_id=trans)
    assert reply["error"] == -5
    cancel = intruder.complete(
        pay, SOM, prepared["merchant_prepare_id"], click_trans_id=trans, error=-5017
    )
    assert cancel["error"] == -9
    assert status(pay) == "processing"
    assert ClickTransaction.objects.get(click_trans_id=trans).status == "prepared"


def test_a_test_account_never_touches_a_live_payment(org: Any, make_api: Any) -> None:
    live_account = make_click_account(org, test_mode=False)
    test_click = ClickClient(make_click_account(org, test_mode=True))
    live_api = make_api(org, "live")
    pay = live_api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()["id"]
    assert Payment.objects.get(pk=pay).gateway_account_id == live_account.id
    assert test_click.prepare(pay, SOM)["error"] == -5
    assert ClickClient(live_account).pay(pay, SOM)[1]["error"] == 0


def test_payments_in_other_currencies_do_not_exist_for_click(
    org: Any, api: Any, sandbox: GatewayAccount, click: ClickClient
) -> None:
    pay = api.post(
        "/v1/payments", {"amount": 1500, "currency": "EUR", "gateway_account": sandbox.id}
    ).json()["id"]
    assert click.prepare(pay, "15.00")["error"] == -5


def test_a_payment_started_elsewhere_moves_to_click_when_paid_there(
    org: Any, api: Any, sandbox: GatewayAccount, click: ClickClient
) -> None:
    """The Click app reaches any order; the money is booked on Click's clearing account."""
    pay = api.post(
        "/v1/payments", {"amount": AMOUNT, "currency": "UZS", "gateway_account": sandbox.id}
    ).json()["id"]
    click.pay(pay, SOM)
    payment = Payment.objects.get(pk=pay)
    assert payment.status == "succeeded" and payment.gateway_account_id == click.account.id
    assert balances(org.id)[f"gateway_clearing:{click.account.id}"] == -AMOUNT
    assert_ledger_balanced(org.id)


def test_a_disabled_account_takes_no_new_payments_but_finishes_started_ones(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]], api: Any
) -> None:
    started = new_payment()["id"]
    trans = click.new_trans_id()
    prepared = click.prepare(started, SOM, click_trans_id=trans)
    fresh = new_payment()["id"]
    assert api.post(f"/v1/gateway_accounts/{click.account.id}/disable").status_code == 200
    assert click.prepare(fresh, SOM)["error"] == -5
    reply = click.complete(started, SOM, prepared["merchant_prepare_id"], click_trans_id=trans)
    assert reply["error"] == 0 and status(started) == "succeeded"


# -- checkout, configuration, admin ----------------------------------------------------------------


def test_the_hosted_checkout_sends_the_customer_to_click(
    api: Any, click: ClickClient, shopper: Any, org: Any
) -> None:
    payment = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()
    location = shopper.choose(payment["checkout_url"], click.account.id)
    assert location.startswith("https://my.click.uz/services/pay?")
    params = link_params(location)
    assert params == {
        "service_id": SERVICE_ID,
        "merchant_id": MERCHANT_ID,
        "merchant_user_id": "42",
        "amount": "1500.00",
        "transaction_param": payment["id"],
        "return_url": payment["checkout_url"] + "/return",
    }
    # Click's page: the customer pays; Click calls Prepare and Complete with those values.
    _, completed = click.pay(params["transaction_param"], params["amount"])
    assert completed["error"] == 0
    back = shopper.client.get(path_of(params["return_url"]))
    assert back.status_code == 200
    assert status(payment["id"]) == "succeeded"
    assert_ledger_balanced(org.id)


def test_link_options(org: Any, api: Any, shopper: Any) -> None:
    account = make_click_account(
        org, options={"checkout_url": "https://pay.example.uz/click", "card_type": "humo"}
    )
    payment = api.post("/v1/payments", {"amount": 100, "currency": "UZS"}).json()
    location = shopper.choose(payment["checkout_url"], account.id)
    assert location.startswith("https://pay.example.uz/click?")
    assert link_params(location)["card_type"] == "humo"
    assert link_params(location)["amount"] == "1.00"


def test_creating_a_click_account_through_the_api(api: Any) -> None:
    created = api.post(
        "/v1/gateway_accounts",
        {
            "provider": "click",
            "credentials": {"service_id": "1234", "merchant_id": "5678", "secret_key": "s3cr3tkey"},
        },
    )
    assert created.status_code == 200, created.content
    body = created.json()
    base = f"{settings.KASSA_BASE_URL}/hooks/click/{body['id']}"
    assert body["callback_urls"] == {"prepare": f"{base}/prepare", "complete": f"{base}/complete"}
    assert body["credentials"]["secret_key"].endswith("tkey")
    assert "s3cr3tkey" not in created.content.decode()
    assert body["currencies"] == ["UZS"]
    assert body["capabilities"]["merchant_api"] is True
    assert body["capabilities"]["refunds"] is False
    assert body["options"] == {
        "checkout_url": "https://my.click.uz/services/pay",
        "prepare_timeout_minutes": 30,
        "cancel_of_confirmed_reply": -9,
    }


@pytest.mark.parametrize(
    ("credentials", "options", "param"),
    [
        (
            {"service_id": "12a", "merchant_id": "1", "secret_key": "k"},
            {},
            "credentials.service_id",
        ),
        ({"merchant_id": "1", "secret_key": "k"}, {}, "credentials.service_id"),
        ({"service_id": "1", "merchant_id": "1"}, {}, "credentials.secret_key"),
        ({"service_id": "1", "merchant_id": "1", "secret_key": "k", "x": "1"}, {}, "credentials"),
        (
            {"service_id": "1", "merchant_id": "1", "secret_key": "k"},
            {"checkout_url": "http://my.click.uz"},
            "options.checkout_url",
        ),
        (
            {"service_id": "1", "merchant_id": "1", "secret_key": "k"},
            {"card_type": "visa"},
            "options.card_type",
        ),
        (
            {"service_id": "1", "merchant_id": "1", "secret_key": "k"},
            {"prepare_timeout_minutes": 0},
            "options.prepare_timeout_minutes",
        ),
        (
            {"service_id": "1", "merchant_id": "1", "secret_key": "k"},
            {"cancel_of_confirmed_reply": -5},
            "options.cancel_of_confirmed_reply",
        ),
    ],
)
def test_click_configuration_is_checked(
    api: Any, credentials: dict[str, str], options: dict[str, Any], param: str
) -> None:
    response = api.post(
        "/v1/gateway_accounts",
        {"provider": "click", "credentials": credentials, "options": options},
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param


def test_click_takes_uzs_only(api: Any) -> None:
    response = api.post(
        "/v1/gateway_accounts",
        {
            "provider": "click",
            "currencies": ["EUR"],
            "credentials": {"service_id": "1", "merchant_id": "1", "secret_key": "k"},
        },
    )
    assert response.status_code == 400


def test_the_admin_shows_the_urls_to_paste_and_the_field_help(
    org: Any, click_account: GatewayAccount
) -> None:
    from kassa.core.services import add_staff_member

    add_staff_member(
        org, email="o@x.test", role="owner", password="pw-123456-x", actor=Actor.system("t")
    )
    admin = Client()
    assert admin.login(username="o@x.test", password="pw-123456-x")
    page = admin.get(f"/admin/payments/gatewayaccount/{click_account.id}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f"/hooks/click/{click_account.id}/prepare" in text
    assert f"/hooks/click/{click_account.id}/complete" in text
    assert "MD5 sign_string" in text  # the secret key's help
    assert SECRET not in text
    assert "prepare_timeout_minutes" in text and "UNCONFIRMED" in text  # the options' help
    listing = admin.get("/admin/payments/gatewayaccount/").content.decode()
    assert "kassa-test" in listing
    click = ClickClient(click_account)
    pay = Payment.objects.create(organization=org, amount=AMOUNT, currency="UZS")
    prepared, _ = click.pay(pay.id, SOM)
    paydoc = prepared["click_trans_id"] + 1_000_000
    found = admin.get(f"/admin/payments/clicktransaction/?q={paydoc}").content.decode()
    assert str(prepared["click_trans_id"]) in found and pay.id in found
    intruder = Client()
    add_staff_member(
        make_org("Other"),
        email="x@y.test",
        role="owner",
        password="pw-123456-x",
        actor=Actor.system("t"),
    )
    assert intruder.login(username="x@y.test", password="pw-123456-x")
    hidden = intruder.get(f"/admin/payments/clicktransaction/?q={paydoc}").content.decode()
    assert pay.id not in hidden


@pytest.mark.parametrize(
    "field", ["merchant_trans_id", "error_note", "click_trans_id", "sign_time", "amount"]
)
def test_text_that_cannot_be_stored_is_a_click_error(
    click: ClickClient, new_payment: Callable[..., dict[str, Any]], field: str
) -> None:
    """A signed request whose field holds NUL (a forger who has the secret, or a broken
    gateway) is answered in Click's protocol, not with an HTTP 500, and changes nothing."""
    pay = new_payment()["id"]
    fields = click.fields(0, pay, SOM, click_trans_id=click.new_trans_id())
    fields[field] = fields[field] + "\x00"
    fields["sign_string"] = md5_sign(fields, SECRET)
    assert click.post("prepare", fields)["error"] < 0
    assert status(pay) == "pending"
    assert not ClickTransaction.objects.exists()
