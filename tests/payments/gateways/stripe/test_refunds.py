"""Refunds at Stripe: partial and full, limits, idempotency keys, charge.refunded events, and
refunds made in Stripe's dashboard."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.ledger.models import LedgerTransaction
from kassa.payments.models import GatewayEvent, Payment, Refund
from tests.ledger.helpers import assert_ledger_balanced
from tests.payments.gateways.stripe.support import SUCCESS, balances

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(api: Any, stripe_account: Any, stripe_shopper: Any, deliver: Any) -> dict[str, Any]:
    payment = api.post("/v1/payments", {"amount": 10000, "currency": "EUR"}).json()
    stripe_shopper.checkout(payment["checkout_url"], stripe_account.id, SUCCESS)
    deliver()
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"
    return dict(payment)


def refund_calls(sim: Any) -> list[Any]:
    return [r for r in sim.requests if r[:2] == ("POST", "/v1/refunds")]


def test_partial_then_full_refund(
    api: Any, org: Any, paid: Any, stripe_sim: Any, stripe_account: Any, deliver: Any
) -> None:
    first = api.post("/v1/refunds", {"payment": paid["id"], "amount": 3000, "reason": "late"})
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "succeeded"
    rest = api.post("/v1/refunds", {"payment": paid["id"]}).json()
    assert (rest["status"], rest["amount"]) == ("succeeded", 7000)
    calls = refund_calls(stripe_sim)
    assert [c[2]["amount"] for c in calls] == ["3000", "7000"]
    assert [c[3] for c in calls] == [f"{first.json()['id']}:refund", f"{rest['id']}:refund"]
    assert calls[0][2]["metadata"]["kassa_refund_id"] == first.json()["id"]
    assert calls[0][2]["payment_intent"].startswith("pi_")
    assert deliver() == [200, 200]  # two charge.refunded events: nothing changes twice
    assert set(
        GatewayEvent.objects.filter(raw_type="charge.refunded").values_list("status", flat=True)
    ) == {"processed"}
    payment = Payment.objects.get(pk=paid["id"])
    assert payment.amount_refunded == 10000
    assert Refund.objects.filter(payment=payment).count() == 2
    assert balances(org.id) == {}  # every cent went back
    assert_ledger_balanced(org.id)


def test_refund_limits(api: Any, paid: Any, stripe_sim: Any) -> None:
    too_much = api.post("/v1/refunds", {"payment": paid["id"], "amount": 10001})
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "refund_amount_too_high"
    assert api.post("/v1/refunds", {"payment": paid["id"]}).json()["status"] == "succeeded"
    again = api.post("/v1/refunds", {"payment": paid["id"], "amount": 1})
    assert again.status_code == 400
    assert len(refund_calls(stripe_sim)) == 1


def test_refund_before_success_is_refused(api: Any, stripe_account: Any, stripe_sim: Any) -> None:
    payment = api.post("/v1/payments", {"amount": 500, "currency": "EUR"}).json()
    refused = api.post("/v1/refunds", {"payment": payment["id"]})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "payment_not_succeeded"
    assert refund_calls(stripe_sim) == []


def test_stripe_refusing_a_refund_releases_the_hold(
    api: Any, org: Any, paid: Any, stripe_sim: Any
) -> None:
    intent = next(iter(stripe_sim.intents.values()))
    stripe_sim.charges[intent["latest_charge"]]["amount_refunded"] = 10000  # refunded elsewhere
    refund = api.post("/v1/refunds", {"payment": paid["id"], "amount": 2000}).json()
    assert refund["status"] == "failed"
    assert "greater than unrefunded" in Refund.objects.get(pk=refund["id"]).failure_message
    assert Payment.objects.get(pk=paid["id"]).amount_refunded == 0
    assert_ledger_balanced(org.id)


def test_a_lost_refund_answer_is_retried_with_the_same_key(
    api: Any, org: Any, paid: Any, stripe_sim: Any, tasks: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    stripe_sim.send_events = False
    stripe_sim.drop_responses("/v1/refunds", 3)
    refund = api.post("/v1/refunds", {"payment": paid["id"], "amount": 2500}).json()
    assert refund["status"] == "pending"
    # The retry is scheduled with a delay; make it due. Stripe replays its saved answer.
    DBTaskResult.objects.filter(task_path__endswith="retry_refund").update(
        run_after="2000-01-01T00:00:00Z"
    )
    tasks()
    assert Refund.objects.get(pk=refund["id"]).status == "succeeded"
    assert len(stripe_sim.refunds) == 1
    assert {c[3] for c in refund_calls(stripe_sim)} == {f"{refund['id']}:refund"}
    assert Payment.objects.get(pk=paid["id"]).amount_refunded == 2500
    assert_ledger_balanced(org.id)


@pytest.mark.parametrize("listed", [True, False])
def test_a_refund_made_in_the_dashboard_is_recorded(
    org: Any, paid: Any, stripe_sim: Any, deliver: Any, listed: bool
) -> None:
    stripe_sim.charge_includes_refunds = listed  # newer API versions: Kassa lists them
    intent = next(iter(stripe_sim.intents.values()))
    with stripe_sim.lock:
        made = stripe_sim._create_refund({"payment_intent": intent["id"], "amount": "1200"})
    assert deliver() == [200]
    refund = Refund.objects.get(payment_id=paid["id"])
    assert (refund.status, refund.amount, refund.gateway_reference) == (
        "succeeded",
        1200,
        made["id"],
    )
    assert Payment.objects.get(pk=paid["id"]).amount_refunded == 1200
    assert LedgerTransaction.objects.filter(organization_id=org.id).count() >= 2
    assert_ledger_balanced(org.id)
