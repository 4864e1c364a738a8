"""OCTO end to end against the local simulator: checkout, notifications, status re-checks,
two-stage holds, refunds, reconciliation, timing with a controllable clock, tenants. Every money
flow ends with the ledger balanced."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from kassa.core.actors import Actor
from kassa.core.models import AuditLogEntry
from kassa.events.models import Event
from kassa.ledger.models import LedgerTransaction
from kassa.payments.gateways.octo import services as octo_services
from kassa.payments.gateways.octo.client import OctoClient, TransactionOpen
from kassa.payments.gateways.octo.models import OctoPayment
from kassa.payments.gateways.octo.tasks import poll_octo_holds, recheck_octo_refunds
from kassa.payments.models import GatewayAccount, GatewayEvent, Payment, Refund
from kassa.payments.tasks import reconcile_payment
from tests.conftest import make_org
from tests.ledger.helpers import account_balances, assert_ledger_balanced
from tests.payments.conftest import Shopper, path_of
from tests.payments.gateways.octo.client import OctoNotifier, make_octo_account
from tests.payments.gateways.octo.client import octo_sim as octo_sim
from tests.simulators.octo_sim import OctoSimulator

pytestmark = pytest.mark.django_db

AMOUNT = 150000  # 1500.00 UZS


class Clock:
    """The clock OCTO's timing rules read, moved by hand."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(octo_services, "clock", fake)
    return fake


@pytest.fixture
def octo(org: Any, octo_sim: OctoSimulator) -> GatewayAccount:
    return make_octo_account(org, octo_sim)


@pytest.fixture
def notifier(octo: GatewayAccount, octo_sim: OctoSimulator) -> OctoNotifier:
    return OctoNotifier(octo, octo_sim)


@pytest.fixture
def checkout(api: Any, shopper: Shopper) -> Callable[..., tuple[str, str]]:
    """Create a payment and send the shopper to OCTO; returns (payment id, OCTO page URL)."""

    def run(account: GatewayAccount, amount: int = AMOUNT, **body: Any) -> tuple[str, str]:
        created = api.post("/v1/payments", {"amount": amount, "currency": "UZS", **body})
        assert created.status_code == 200, created.content
        payment = created.json()
        return payment["id"], shopper.choose(payment["checkout_url"], account.id)

    return run


def balances(org_id: str) -> dict[str, int]:
    return account_balances(org_id)


def status(payment_id: str) -> str:
    return Payment.objects.get(pk=payment_id).status


def event_types(payment_id: str) -> list[str]:
    return list(
        Event.objects.filter(object_id=payment_id).order_by("id").values_list("type", flat=True)
    )


def status_calls(sim: OctoSimulator) -> int:
    return sum(
        1
        for body in sim.bodies("prepare_payment")
        if set(body) == {"octo_shop_id", "octo_secret", "shop_transaction_id"}
    )


# -- one-stage payments -------------------------------------------------------------------------


def test_one_stage_payment_end_to_end(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
    org: Any,
) -> None:
    pay, page = checkout(octo, description="Samarkand tour")
    attempt = OctoPayment.objects.get(payment_id=pay)
    assert page == f"https://pay.octo.uz/{attempt.octo_payment_uuid}"
    (sent,) = octo_sim.bodies("prepare_payment")
    assert sent["shop_transaction_id"] == pay
    assert sent["auto_capture"] is True and sent["test"] is True
    assert sent["total_sum"] == Decimal("1500.00") and sent["currency"] == "UZS"
    assert '"total_sum":1500.00' in octo_sim.calls[0][1]  # a decimal literal, not a string
    assert sent["notify_url"] == f"http://testserver/hooks/octo/{octo.id}" or sent[
        "notify_url"
    ].endswith(f"/hooks/octo/{octo.id}")
    assert sent["description"] == "Samarkand tour"
    assert Payment.objects.get(pk=pay).gateway_reference == attempt.octo_payment_uuid

    octo_sim.customer_pays(pay)
    code, answer = notifier.send(pay)
    assert (code, answer) == (200, {"received": True})
    assert status(pay) == "pending"  # nothing granted before OCTO is asked
    tasks()
    assert status(pay) == "succeeded"
    assert status_calls(octo_sim) == 1  # the re-check
    attempt.refresh_from_db()
    assert attempt.status == "succeeded" and attempt.checked_at is not None
    assert event_types(pay) == ["payment.created", "payment.succeeded"]
    assert balances(org.id) == {
        f"gateway_clearing:{octo.id}": -AMOUNT,
        "payments_received:": AMOUNT,
    }
    assert_ledger_balanced(org.id)


def test_the_legacy_envelope_works_too(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
    org: Any,
) -> None:
    octo_sim.envelope = "legacy"
    octo_sim.status_includes_sum = True
    pay, _ = checkout(octo)
    octo_sim.customer_pays(pay)
    notifier.send(pay)
    tasks()
    assert status(pay) == "succeeded"
    assert_ledger_balanced(org.id)


def test_a_repeated_notification_grants_once(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
    org: Any,
) -> None:
    pay, _ = checkout(octo)
    octo_sim.customer_pays(pay)
    for _ in range(3):  # OCTO retries with a fresh hash_key each time
        assert notifier.send(pay)[0] == 200
    tasks()
    assert GatewayEvent.objects.filter(provider="octo", status="processed").count() == 1
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert balances(org.id)["payments_received:"] == AMOUNT
    assert_ledger_balanced(org.id)


def test_a_notification_is_not_trusted_over_octos_status(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
) -> None:
    pay, _ = checkout(octo)
    # Signed "succeeded" while OCTO itself still says created (a replayed or early message).
    assert notifier.send(pay, status="succeeded")[0] == 200
    tasks()
    assert status(pay) == "pending"
    assert not LedgerTransaction.objects.filter(reference=pay).exists()


def test_a_notified_amount_that_differs_is_refused(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
    org: Any,
) -> None:
    pay, _ = checkout(octo)
    octo_sim.customer_pays(pay)
    notifier.send(pay, total_sum=Decimal("1.00"))
    tasks()
    event = GatewayEvent.objects.get(provider="octo", verified=True)
    assert event.status == "failed" and "total_sum" in event.last_error
    assert status(pay) == "pending"
    assert not LedgerTransaction.objects.filter(reference=pay).exists()
    assert_ledger_balanced(org.id)


def test_an_amount_octo_reports_differently_is_refused(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
) -> None:
    pay, _ = checkout(octo)
    octo_sim.status_includes_sum = True
    octo_sim.payments[pay].total_sum = Decimal("15.00")  # OCTO took another amount
    octo_sim.customer_pays(pay)
    notifier.send(pay, total_sum=None)
    tasks()
    event = GatewayEvent.objects.get(provider="octo", verified=True)
    assert event.status == "failed" and "amount mismatch" in event.last_error
    assert status(pay) == "pending"
    assert not LedgerTransaction.objects.filter(reference=pay).exists()


def test_a_notification_naming_another_uuid_is_refused(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
) -> None:
    pay, _ = checkout(octo)
    octo_sim.customer_pays(pay)
    real_uuid = octo_sim.payments[pay].uuid
    octo_sim.payments[pay].uuid = "00000000-0000-0000-0000-000000000001"
    body = octo_sim.notification(pay)
    octo_sim.payments[pay].uuid = real_uuid
    assert notifier.post_raw(octo_sim.encode(body))[0] == 200
    tasks()
    event = GatewayEvent.objects.get(provider="octo", verified=True)
    assert event.status == "failed" and "names payment" in event.last_error
    assert status(pay) == "pending"


def test_a_notification_for_a_payment_octo_never_got_is_refused(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    api: Any,
    tasks: Callable[[], int],
) -> None:
    pay = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()["id"]
    octo_sim.payments[pay] = octo_sim.payments.get(pay) or _sim_payment(octo_sim, pay)
    octo_sim.customer_pays(pay)
    notifier.send(pay)
    tasks()
    event = GatewayEvent.objects.get(provider="octo", verified=True)
    assert event.status == "failed" and "no OCTO attempt" in event.last_error
    assert status(pay) == "pending"


def _sim_payment(sim: OctoSimulator, shop_transaction_id: str) -> Any:
    from tests.simulators.octo_sim import SimPayment

    return SimPayment(
        shop_transaction_id=shop_transaction_id,
        uuid="11111111-2222-3333-4444-555555555555",
        total_sum=Decimal("1500.00"),
        currency="UZS",
        auto_capture=True,
        test=True,
        body={},
    )


def test_octo_unreachable_during_the_recheck_retries_later(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
) -> None:
    pay, _ = checkout(octo)
    octo_sim.customer_pays(pay)
    notifier.send(pay)
    octo_sim.failures = [500]
    tasks()
    event = GatewayEvent.objects.get(provider="octo", verified=True)
    assert event.status == "pending" and event.attempts == 1
    assert "OCTO answered HTTP 500" in event.last_error
    assert status(pay) == "pending"


def test_a_refused_status_read_is_retried_not_lost(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
    org: Any,
) -> None:
    pay, _ = checkout(octo)
    octo_sim.customer_pays(pay)
    notifier.send(pay)
    octo_sim.refusals = [(429, "Requests too often")]  # the rate limit third parties report
    tasks()
    event = GatewayEvent.objects.get(provider="octo", verified=True)
    assert event.status == "pending" and "Requests too often" in event.last_error
    assert status(pay) == "pending"
    from kassa.payments.inbound import process

    assert process(event.id) == "processed"  # the retry, once OCTO answers again
    assert status(pay) == "succeeded"
    assert_ledger_balanced(org.id)


def test_staff_capture_when_octo_refuses_shows_the_error(
    org: Any,
    octo_sim: OctoSimulator,
    checkout: Callable[..., tuple[str, str]],
) -> None:
    account = make_octo_account(org, octo_sim, capture="manual")
    pay, _ = checkout(account)
    octo_sim.customer_pays(pay)
    OctoNotifier(account, octo_sim).ask_capture(pay)
    octo_sim.refusals = [(4, "Payment expired"), (2, "Wrong secret")]
    with pytest.raises(octo_services.GatewayError, match="Wrong secret"):
        octo_services.capture_hold(Payment.objects.get(pk=pay), Actor.system("staff-test"), "go")
    assert status(pay) == "processing"
    assert not LedgerTransaction.objects.filter(reference=pay).exists()
    # The request is remembered; the hold poll reads the outcome back later.
    assert OctoPayment.objects.get(payment_id=pay).capture == "capture_requested"


# -- verification -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account_scheme", "sent_scheme", "accepted"),
    [
        ("hash_key", "hash_key", True),
        ("hash_key", "unique_key", False),
        ("unique_key", "unique_key", True),
        ("unique_key", "hash_key", False),
        ("either", "hash_key", True),
        ("either", "unique_key", True),
    ],
)
def test_signature_schemes(
    org: Any,
    octo_sim: OctoSimulator,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
    account_scheme: str,
    sent_scheme: str,
    accepted: bool,
) -> None:
    account = make_octo_account(org, octo_sim, signature_scheme=account_scheme)
    pay, _ = checkout(account)
    octo_sim.customer_pays(pay)
    code, answer = OctoNotifier(account, octo_sim).send(pay, scheme=sent_scheme, lower_case=True)
    tasks()
    if accepted:
        assert (code, answer) == (200, {"received": True})
        assert status(pay) == "succeeded"
    else:
        assert code == 400 and "bad signature" in answer["error"]
        assert GatewayEvent.objects.get(provider="octo").status == "rejected"
        assert status(pay) == "pending"
    assert_ledger_balanced(org.id)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        b'{"shop_transaction_id": "x", "octo_payment_UUID": "y", "status": "succeeded"}',
    ],
)
def test_malformed_notifications_are_rejected(
    notifier: OctoNotifier, body: bytes, tasks: Callable[[], int]
) -> None:
    code, answer = notifier.post_raw(body)
    assert code == 400 and answer["error"].startswith("verification failed")
    event = GatewayEvent.objects.get(provider="octo")
    assert event.status == "rejected" and not event.verified
    assert tasks() == 0


def test_a_notification_signed_with_another_secret_is_rejected(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    checkout: Callable[..., tuple[str, str]],
) -> None:
    pay, _ = checkout(octo)
    octo_sim.customer_pays(pay)
    code, _ = notifier.send(pay, secret="guessed")
    assert code == 400
    assert status(pay) == "pending"


def test_get_on_the_hook_is_refused(notifier: OctoNotifier) -> None:
    assert Client().get(notifier.path).status_code == 405


def test_the_hook_of_an_unknown_account_is_404(octo: GatewayAccount) -> None:
    assert (
        Client().post("/hooks/octo/gwa_nope", b"{}", content_type="application/json").status_code
        == 404
    )
    # The right id under another provider's path is unknown too.
    assert (
        Client().post(f"/hooks/click/{octo.id}", b"{}", content_type="application/json").status_code
        == 404
    )


# -- attempts -----------------------------------------------------------------------------------


def test_a_canceled_attempt_lets_the_customer_pay_again(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    api: Any,
    shopper: Shopper,
    tasks: Callable[[], int],
    org: Any,
) -> None:
    payment = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()
    pay = payment["id"]
    first = shopper.choose(payment["checkout_url"], octo.id)
    assert shopper.choose(payment["checkout_url"], octo.id) == first  # the open attempt again
    octo_sim.customer_pays(pay, success=False)
    notifier.send(pay)
    tasks()
    shown = api.get(f"/v1/payments/{pay}").json()
    assert shown["status"] == "requires_action"
    assert shown["failure_code"] == "octo_canceled"
    page = shopper.open_checkout(payment["checkout_url"], lang="ru").content.decode()
    assert "OCTO не принял платёж." in page
    second = shopper.choose(payment["checkout_url"], octo.id)
    assert second != first
    retry = OctoPayment.objects.get(payment_id=pay, attempt=2)
    assert retry.shop_transaction_id == f"{pay}-2"
    octo_sim.customer_pays(f"{pay}-2")
    notifier.send(f"{pay}-2")
    tasks()
    assert status(pay) == "succeeded"
    assert Payment.objects.get(pk=pay).gateway_reference == retry.octo_payment_uuid
    assert balances(org.id)["payments_received:"] == AMOUNT
    assert_ledger_balanced(org.id)


def test_a_payment_paid_at_octo_after_switching_gateways_follows_octo(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    sandbox: GatewayAccount,
    api: Any,
    shopper: Shopper,
    tasks: Callable[[], int],
    org: Any,
) -> None:
    payment = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()
    pay = payment["id"]
    shopper.choose(payment["checkout_url"], octo.id)
    shopper.choose(payment["checkout_url"], sandbox.id)  # the customer changed their mind...
    assert Payment.objects.get(pk=pay).gateway_account_id == sandbox.id
    octo_sim.customer_pays(pay)  # ...but paid in OCTO's tab after all
    notifier.send(pay)
    tasks()
    paid = Payment.objects.get(pk=pay)
    assert paid.status == "succeeded" and paid.gateway_account_id == octo.id
    assert balances(org.id) == {
        f"gateway_clearing:{octo.id}": -AMOUNT,
        "payments_received:": AMOUNT,
    }
    assert_ledger_balanced(org.id)


def test_an_attempt_octo_ended_without_telling_is_replaced_at_checkout(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    api: Any,
    shopper: Shopper,
) -> None:
    payment = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()
    pay = payment["id"]
    first = shopper.choose(payment["checkout_url"], octo.id)
    octo_sim.customer_pays(pay, success=False)  # no notification arrives
    second = shopper.choose(payment["checkout_url"], octo.id)
    assert second != first
    assert [b["shop_transaction_id"] for b in octo_sim.bodies("prepare_payment")] == [
        pay,
        pay,
        f"{pay}-2",
    ]
    attempts = OctoPayment.objects.filter(payment_id=pay).order_by("attempt")
    assert [(a.attempt, a.status) for a in attempts] == [(1, "canceled"), (2, "created")]


def test_octo_refusing_the_prepare_shows_an_error_on_the_checkout(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    api: Any,
    shopper: Shopper,
) -> None:
    octo_sim.secret = "rotated"  # Kassa's secret is now wrong: OCTO answers error 2
    payment = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()
    response = shopper.client.post(
        path_of(payment["checkout_url"]) + "/start", {"gateway_account": octo.id}
    )
    assert response.status_code == 409
    assert "Wrong secret" in response.content.decode()
    assert status(payment["id"]) == "pending"


def test_octo_down_at_checkout_shows_an_error(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    api: Any,
    shopper: Shopper,
) -> None:
    octo_sim.failures = [503]
    payment = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()
    response = shopper.client.post(
        path_of(payment["checkout_url"]) + "/start", {"gateway_account": octo.id}
    )
    assert response.status_code == 409
    # The attempt was committed before the call: the next try reuses its shop_transaction_id.
    octo_sim.failures = []
    shopper.choose(payment["checkout_url"], octo.id)
    assert OctoPayment.objects.filter(payment_id=payment["id"]).count() == 1


def test_the_payment_page_ttl_follows_the_checkout_expiry(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    api: Any,
    shopper: Shopper,
    clock: Clock,
) -> None:
    payment = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()
    expires = Payment.objects.get(pk=payment["id"]).expires_at
    assert expires is not None
    clock.now = expires - timedelta(minutes=25)
    shopper.choose(payment["checkout_url"], octo.id)
    clock.advance(minutes=15, seconds=30)
    shopper.choose(payment["checkout_url"], octo.id)
    ttls = [body["ttl"] for body in octo_sim.bodies("prepare_payment")]
    assert ttls == [25, 10]
    # init_time is OCTO's local (Tashkent) time of the call.
    first = octo_sim.bodies("prepare_payment")[0]["init_time"]
    assert first == (expires - timedelta(minutes=25)).astimezone(
        octo_services.protocol.OCTO_ZONE
    ).strftime("%Y-%m-%d %H:%M:%S")


def test_octo_is_never_called_inside_a_transaction(octo_sim: OctoSimulator) -> None:
    client = OctoClient(shop_id=str(octo_sim.shop_id), secret=octo_sim.secret, api_url=octo_sim.url)
    with transaction.atomic(), pytest.raises(TransactionOpen):
        client.status("pay_x")
    assert octo_sim.calls == []


# -- two-stage payments ---------------------------------------------------------------------------


def test_two_stage_answered_by_kassa(
    org: Any,
    octo_sim: OctoSimulator,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
) -> None:
    account = make_octo_account(org, octo_sim, capture="notify")
    notifier = OctoNotifier(account, octo_sim)
    pay, _ = checkout(account)
    assert octo_sim.bodies("prepare_payment")[0]["auto_capture"] is False
    octo_sim.customer_pays(pay)
    code, answer = notifier.ask_capture(pay)
    assert (code, answer) == (200, {"accept_status": "capture"})
    assert status(pay) == "processing"
    # OCTO asks again (its retry): the same answer, without asking OCTO's status again.
    calls = status_calls(octo_sim)
    octo_sim.payments[pay].status = "waiting_for_capture"
    assert notifier.send(pay, status="waiting_for_capture") == (200, {"accept_status": "capture"})
    assert status_calls(octo_sim) == calls
    octo_sim.accept(pay, "capture")
    notifier.send(pay)
    tasks()
    assert status(pay) == "succeeded"
    attempt = OctoPayment.objects.get(payment_id=pay)
    assert attempt.capture == "captured" and attempt.accept_answer == "capture"
    assert event_types(pay) == ["payment.created", "payment.processing", "payment.succeeded"]
    assert balances(org.id)["payments_received:"] == AMOUNT
    assert_ledger_balanced(org.id)


def test_a_hold_for_a_payment_canceled_meanwhile_is_cancelled(
    org: Any,
    octo_sim: OctoSimulator,
    api: Any,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
) -> None:
    account = make_octo_account(org, octo_sim, capture="notify")
    notifier = OctoNotifier(account, octo_sim)
    pay, _ = checkout(account)
    assert api.post(f"/v1/payments/{pay}/cancel").status_code == 200
    octo_sim.customer_pays(pay)
    assert notifier.ask_capture(pay) == (200, {"accept_status": "cancel"})
    assert octo_sim.payments[pay].status == "canceled"
    notifier.send(pay)
    tasks()
    assert status(pay) == "canceled"
    assert not LedgerTransaction.objects.filter(reference=pay).exists()
    assert_ledger_balanced(org.id)


def test_a_hold_whose_amount_differs_is_cancelled(
    org: Any,
    octo_sim: OctoSimulator,
    checkout: Callable[..., tuple[str, str]],
) -> None:
    account = make_octo_account(org, octo_sim, capture="notify")
    pay, _ = checkout(account)
    octo_sim.customer_pays(pay)
    answer = OctoNotifier(account, octo_sim).ask_capture(pay, total_sum=Decimal("1499.99"))
    assert answer == (200, {"accept_status": "cancel"})
    assert status(pay) == "pending"


def test_a_hold_question_octo_does_not_confirm_gets_no_decision(
    org: Any,
    octo_sim: OctoSimulator,
    checkout: Callable[..., tuple[str, str]],
) -> None:
    account = make_octo_account(org, octo_sim, capture="notify")
    pay, _ = checkout(account)
    # OCTO's status is still created: the signed question is not acted on.
    code, answer = OctoNotifier(account, octo_sim).send(pay, status="waiting_for_capture")
    assert (code, answer) == (200, {"received": True})
    assert status(pay) == "pending"
    octo_sim.customer_pays(pay)
    octo_sim.failures = [500]
    code, _ = OctoNotifier(account, octo_sim).send(pay, status="waiting_for_capture")
    assert code == 503  # cannot check now: OCTO asks again
    assert OctoPayment.objects.get(payment_id=pay).accept_answer == ""


def test_manual_capture_by_staff(
    org: Any,
    octo_sim: OctoSimulator,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
) -> None:
    account = make_octo_account(org, octo_sim, capture="manual")
    notifier = OctoNotifier(account, octo_sim)
    pay, _ = checkout(account)
    octo_sim.customer_pays(pay)
    assert notifier.ask_capture(pay) == (200, {"received": True})  # decided later
    assert status(pay) == "processing"
    attempt = OctoPayment.objects.get(payment_id=pay)
    assert attempt.capture == "held" and attempt.held_at is not None
    staff = Actor.system("staff-test")
    paid = octo_services.capture_hold(Payment.objects.get(pk=pay), staff, "goods shipped")
    assert paid.status == "succeeded"
    assert octo_sim.bodies("set_accept")[0]["accept_status"] == "capture"
    attempt.refresh_from_db()
    assert attempt.capture == "captured"
    with pytest.raises(octo_services.HoldNotOpen):
        octo_services.capture_hold(paid, staff, "again")
    # OCTO's final notification changes nothing more.
    notifier.send(pay)
    tasks()
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert balances(org.id)["payments_received:"] == AMOUNT
    assert_ledger_balanced(org.id)


def test_manual_cancel_of_a_hold_cancels_the_payment(
    org: Any,
    octo_sim: OctoSimulator,
    checkout: Callable[..., tuple[str, str]],
) -> None:
    account = make_octo_account(org, octo_sim, capture="manual")
    pay, _ = checkout(account)
    octo_sim.customer_pays(pay)
    OctoNotifier(account, octo_sim).ask_capture(pay)
    canceled = octo_services.cancel_hold(
        Payment.objects.get(pk=pay), Actor.system("staff-test"), "out of stock"
    )
    assert canceled.status == "canceled"
    assert octo_sim.payments[pay].status == "canceled"
    assert OctoPayment.objects.get(payment_id=pay).capture == "canceled"
    assert not LedgerTransaction.objects.filter(reference=pay).exists()
    assert_ledger_balanced(org.id)


def test_a_hold_is_read_back_after_the_window(
    org: Any,
    octo_sim: OctoSimulator,
    checkout: Callable[..., tuple[str, str]],
    clock: Clock,
) -> None:
    account = make_octo_account(org, octo_sim, capture="manual", hold_check_minutes="30")
    pay, _ = checkout(account)
    octo_sim.customer_pays(pay)
    OctoNotifier(account, octo_sim).ask_capture(pay)
    octo_sim.payments[pay].status = "canceled"  # OCTO's own auto-cancel
    clock.advance(minutes=29)
    assert poll_octo_holds.call() == 0
    assert status(pay) == "processing"
    clock.advance(minutes=2)
    assert poll_octo_holds.call() == 1
    assert status(pay) == "requires_action"
    assert OctoPayment.objects.get(payment_id=pay).capture == "canceled"
    assert poll_octo_holds.call() == 0  # nothing left to ask about


# -- refunds --------------------------------------------------------------------------------------


@pytest.fixture
def paid(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
) -> str:
    pay, _ = checkout(octo, amount=5_000_000)  # 50 000.00 UZS
    octo_sim.customer_pays(pay)
    notifier.send(pay)
    tasks()
    assert status(pay) == "succeeded"
    return pay


def test_partial_refunds_end_to_end(
    paid: str,
    api: Any,
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    org: Any,
) -> None:
    first = api.post("/v1/refunds", {"payment": paid, "amount": 2_000_000}).json()
    second = api.post("/v1/refunds", {"payment": paid, "amount": 3_000_000}).json()
    assert (first["status"], second["status"]) == ("succeeded", "succeeded")
    sent = octo_sim.bodies("refund")
    assert [b["shop_refund_id"] for b in sent] == [first["id"], second["id"]]
    assert [b["amount"] for b in sent] == [Decimal("20000.00"), Decimal("30000.00")]
    assert sent[0]["octo_payment_UUID"] == Payment.objects.get(pk=paid).gateway_reference
    assert Payment.objects.get(pk=paid).amount_refunded == 5_000_000
    assert balances(org.id) == {
        f"gateway_clearing:{octo.id}": 0,
        "payments_received:": 0,
        "refunds_in_flight:": 0,
    }
    assert_ledger_balanced(org.id)


@pytest.mark.parametrize(
    ("amount", "message"), [(1_299_999, "at least 13000.00 UZS"), (None, None)]
)
def test_octos_refund_minimum(
    paid: str, api: Any, org: Any, amount: int | None, message: str | None
) -> None:
    if amount is None:
        assert api.post("/v1/refunds", {"payment": paid, "amount": 1_300_000}).status_code == 200
        return
    response = api.post("/v1/refunds", {"payment": paid, "amount": amount})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "refund_not_allowed"
    assert message in response.json()["error"]["message"]
    assert not Refund.objects.exists()
    assert_ledger_balanced(org.id)


def test_octos_refund_maximum_per_refund(
    org: Any,
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    notifier: OctoNotifier,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
    api: Any,
) -> None:
    pay, _ = checkout(octo, amount=1_500_000_000)  # 15 000 000.00 UZS
    octo_sim.customer_pays(pay)
    notifier.send(pay)
    tasks()
    response = api.post("/v1/refunds", {"payment": pay})
    assert response.status_code == 409 and "10000000.00" in response.json()["error"]["message"]
    assert api.post("/v1/refunds", {"payment": pay, "amount": 1_000_000_000}).status_code == 200
    assert api.post("/v1/refunds", {"payment": pay, "amount": 500_000_000}).status_code == 200
    assert Payment.objects.get(pk=pay).amount_refunded == 1_500_000_000
    assert_ledger_balanced(org.id)


def test_a_refund_octo_refuses_is_failed_and_released(
    paid: str,
    api: Any,
    octo_sim: OctoSimulator,
    org: Any,
) -> None:
    octo_sim.min_refund_uzs = Decimal("30000")  # OCTO's rate moved past our setting
    refund = api.post("/v1/refunds", {"payment": paid, "amount": 2_000_000}).json()
    assert refund["status"] == "failed"
    assert "Invalid refund amount" in Refund.objects.get(pk=refund["id"]).failure_message
    assert Payment.objects.get(pk=paid).amount_refunded == 0
    assert balances(org.id)["payments_received:"] == 5_000_000
    assert balances(org.id)["refunds_in_flight:"] == 0
    assert_ledger_balanced(org.id)


def test_a_pending_refund_is_asked_about_again(
    paid: str,
    api: Any,
    octo_sim: OctoSimulator,
    org: Any,
    clock: Clock,
) -> None:
    octo_sim.refund_status = "pending"
    refund = api.post("/v1/refunds", {"payment": paid, "amount": 2_000_000}).json()
    assert refund["status"] == "pending"
    assert recheck_octo_refunds.call() == 0  # too early
    octo_sim.settle_refunds()
    clock.advance(minutes=3)
    assert recheck_octo_refunds.call() == 1
    assert Refund.objects.get(pk=refund["id"]).status == "succeeded"
    sent = octo_sim.bodies("refund")
    assert [b["shop_refund_id"] for b in sent] == [refund["id"], refund["id"]]
    assert len(octo_sim.by_uuid(sent[0]["octo_payment_UUID"]).refunds) == 1  # deduplicated
    assert balances(org.id)["payments_received:"] == 3_000_000
    assert_ledger_balanced(org.id)


def test_octo_down_during_a_refund_retries(
    paid: str,
    api: Any,
    octo_sim: OctoSimulator,
    org: Any,
) -> None:
    octo_sim.failures = [502]
    refund = api.post("/v1/refunds", {"payment": paid, "amount": 2_000_000}).json()
    assert refund["status"] == "pending"
    assert Refund.objects.get(pk=refund["id"]).metadata["_attempts"] == "1"
    assert_ledger_balanced(org.id)


# -- reconciliation -------------------------------------------------------------------------------


def test_reconciliation_finds_a_payment_whose_notification_was_lost(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    checkout: Callable[..., tuple[str, str]],
    org: Any,
) -> None:
    pay, _ = checkout(octo)
    assert reconcile_payment.call(pay) == "pending"
    octo_sim.customer_pays(pay)
    assert reconcile_payment.call(pay) == "succeeded"
    assert balances(org.id)["payments_received:"] == AMOUNT
    assert_ledger_balanced(org.id)


def test_reconciliation_refuses_an_amount_octo_reports_differently(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    checkout: Callable[..., tuple[str, str]],
) -> None:
    pay, _ = checkout(octo)
    octo_sim.status_includes_sum = True
    octo_sim.payments[pay].total_sum = Decimal("1.00")
    octo_sim.customer_pays(pay)
    with pytest.raises(Exception, match="reported"):
        reconcile_payment.call(pay)
    assert status(pay) == "pending"


# -- configuration and tenants --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credentials", "options", "param"),
    [
        ({"shop_id": "abc", "secret": "s"}, {}, "credentials.shop_id"),
        ({"shop_id": "1"}, {}, "credentials.secret"),
        ({"shop_id": "1", "secret": "s"}, {"signature_scheme": "md5"}, "options.signature_scheme"),
        (
            {"shop_id": "1", "secret": "s"},
            {"signature_scheme": "unique_key"},
            "credentials.unique_key",
        ),
        ({"shop_id": "1", "secret": "s"}, {"capture": "later"}, "options.capture"),
        (
            {"shop_id": "1", "secret": "s"},
            {"hold_check_minutes": "0"},
            "options.hold_check_minutes",
        ),
        ({"shop_id": "1", "secret": "s"}, {"min_refund_uzs": "1.001"}, "options.min_refund_uzs"),
        ({"shop_id": "1", "secret": "s"}, {"api_url": "ftp://x"}, "options.api_url"),
    ],
)
def test_bad_account_configuration_is_refused(
    api: Any, credentials: dict[str, str], options: dict[str, str], param: str
) -> None:
    response = api.post(
        "/v1/gateway_accounts",
        {"provider": "octo", "test_mode": True, "credentials": credentials, "options": options},
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param
    assert not GatewayAccount.objects.exists()


def test_account_defaults_and_callback_url(api: Any) -> None:
    response = api.post(
        "/v1/gateway_accounts",
        {"provider": "octo", "test_mode": True, "credentials": {"shop_id": "1", "secret": "s"}},
    )
    assert response.status_code == 200, response.content
    account = GatewayAccount.objects.get()
    assert account.options == {
        "signature_scheme": "hash_key",
        "capture": "auto",
        "hold_check_minutes": 30,
        "min_refund_uzs": "13000.00",
        "api_url": "https://secure.octo.uz",
    }
    assert account.currencies == ["UZS", "USD"]
    from kassa.payments.gateways.registry import gateway_for

    assert gateway_for(account).callback_urls()["notify_url"].endswith(f"/hooks/octo/{account.id}")


def test_another_organizations_account_cannot_pay_or_touch_a_payment(
    octo: GatewayAccount,
    octo_sim: OctoSimulator,
    checkout: Callable[..., tuple[str, str]],
    tasks: Callable[[], int],
    make_api: Any,
    org: Any,
) -> None:
    pay, _ = checkout(octo)
    other = make_org("Other Tours")
    other_account = make_octo_account(other, octo_sim)
    octo_sim.customer_pays(pay)
    # Signed correctly for the other account (same shop in the simulator): still not theirs.
    assert OctoNotifier(other_account, octo_sim).send(pay)[0] == 200
    tasks()
    event = GatewayEvent.objects.get(gateway_account=other_account)
    assert event.status == "failed" and "no OCTO attempt" in event.last_error
    assert status(pay) == "pending"
    assert make_api(other).get(f"/v1/payments/{pay}").status_code == 404
    assert make_api(other).post("/v1/refunds", {"payment": pay}).status_code == 404
    assert not LedgerTransaction.objects.filter(organization_id=other.id).exists()
    assert_ledger_balanced(org.id)


def test_a_live_account_never_takes_a_test_payment(
    org: Any,
    octo_sim: OctoSimulator,
    api: Any,
    shopper: Shopper,
) -> None:
    live = make_octo_account(org, octo_sim, test_mode=False, is_default=False)
    make_octo_account(org, octo_sim)
    payment = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()
    response = shopper.client.post(
        path_of(payment["checkout_url"]) + "/start", {"gateway_account": live.id}
    )
    assert response.status_code == 409
    assert octo_sim.calls == []


def test_staff_actions_are_audited(
    org: Any,
    octo_sim: OctoSimulator,
    checkout: Callable[..., tuple[str, str]],
) -> None:
    account = make_octo_account(org, octo_sim, capture="manual")
    pay, _ = checkout(account)
    octo_sim.customer_pays(pay)
    OctoNotifier(account, octo_sim).ask_capture(pay)
    octo_services.capture_hold(Payment.objects.get(pk=pay), Actor.system("staff-test"), "shipped")
    entry = AuditLogEntry.objects.filter(action="payment.octo_capture").get()
    assert entry.reason == "shipped"


def test_json_answers_are_json(notifier: OctoNotifier) -> None:
    response = Client().post(notifier.path, b"{}", content_type="application/json")
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["error"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"shop_transaction_id": "pay_\\u0000", "status": "succeeded", "octo_payment_UUID": "x"}',
        b'{"shop_transaction_id": "x", "status": "succeeded\\u0000", "octo_payment_UUID": "\\ud800"}',
        b'{"shop_transaction_id": "x", "status": "succeeded"}\x00',
        b'{"data": {"\\u0000": 1}}',
    ],
)
def test_a_forged_notification_with_nul_changes_nothing(
    notifier: OctoNotifier, octo: GatewayAccount, body: bytes
) -> None:
    status, _answer = notifier.post_raw(body)
    assert status < 500
    for event in GatewayEvent.objects.filter(gateway_account=octo):
        assert "\x00" not in event.payload
