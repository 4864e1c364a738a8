"""Saved cards charged off-session at Stripe: success, declines, authentication_required, and
an answer lost on the way back that the reconciliation poll settles."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.ledger.models import LedgerTransaction
from kassa.payments.models import Payment, PaymentMethod
from kassa.payments.tasks import reconcile_payment
from tests.ledger.helpers import assert_ledger_balanced
from tests.mail import text_and_html
from tests.payments.gateways.stripe.support import (
    AUTH_REQUIRED,
    DECLINED,
    INSUFFICIENT,
    SUCCESS,
    balances,
)

pytestmark = pytest.mark.django_db


def save_card(api: Any, account: Any, shopper: Any, deliver: Any, card: str) -> tuple[str, str]:
    customer = api.post("/v1/customers", {"email": "c@example.com", "name": "C"}).json()["id"]
    first = api.post(
        "/v1/payments",
        {"amount": 1000, "currency": "EUR", "customer": customer, "save_payment_method": True},
    ).json()
    shopper.checkout(first["checkout_url"], account.id, card)
    deliver()
    method = PaymentMethod.objects.get(customer_id=customer)
    return customer, method.id


def charge(api: Any, customer: str, method: str, amount: int = 2500) -> dict[str, Any]:
    response = api.post(
        "/v1/payments",
        {"amount": amount, "currency": "EUR", "customer": customer, "payment_method": method},
    )
    assert response.status_code == 200, response.content
    return dict(response.json())


def intent_creates(sim: Any, payment_id: str) -> list[Any]:
    return [
        r
        for r in sim.requests
        if r[:2] == ("POST", "/v1/payment_intents")
        and r[2].get("metadata", {}).get("kassa_payment_id") == payment_id
    ]


def test_saved_card_is_charged_off_session(
    api: Any, org: Any, stripe_sim: Any, stripe_account: Any, stripe_shopper: Any, deliver: Any
) -> None:
    customer, method = save_card(api, stripe_account, stripe_shopper, deliver, SUCCESS)
    charged = charge(api, customer, method)
    assert charged["status"] == "succeeded"
    (request,) = intent_creates(stripe_sim, charged["id"])
    params, key = request[2], request[3]
    assert key == f"{charged['id']}:charge"  # derived from our id: a retry cannot charge twice
    assert (params["off_session"], params["confirm"]) == ("true", "true")
    saved = PaymentMethod.objects.get(pk=method)
    assert params["payment_method"] == saved.gateway_reference
    assert params["customer"] == saved.gateway_customer_reference
    assert deliver() == [200]  # payment_intent.succeeded changes nothing more
    assert LedgerTransaction.objects.filter(reference=charged["id"]).count() == 1
    assert balances(org.id) == {
        f"gateway_clearing:{stripe_account.id}": -3500,
        "payments_received:": 3500,
    }
    assert_ledger_balanced(org.id)


def test_authentication_required_asks_the_customer(
    api: Any,
    org: Any,
    stripe_sim: Any,
    stripe_account: Any,
    stripe_shopper: Any,
    deliver: Any,
    smtp: Any,
) -> None:
    customer, method = save_card(api, stripe_account, stripe_shopper, deliver, AUTH_REQUIRED)
    charged = charge(api, customer, method)
    assert charged["status"] == "requires_action"
    assert charged["failure_code"] == "authentication_required"
    assert charged["checkout_url"]  # the link the customer gets to finish on-session
    stored = Payment.objects.get(pk=charged["id"])
    assert stored.action_url == charged["checkout_url"]
    assert stored.gateway_reference.startswith("pi_")
    assert deliver() == [200]  # payment_intent.payment_failed: still requires_action
    assert Payment.objects.get(pk=charged["id"]).status == "requires_action"
    # The customer is emailed the link, once (the event repeats nothing).
    (message,) = smtp.wait_for(1)
    assert message["To"] == "c@example.com"
    text, html = text_and_html(message)
    assert charged["checkout_url"] in text and charged["checkout_url"] in html
    assert "подтвердить платёж" in text and "25,00" in text  # the organization's locale: ru
    # No blind retry: Stripe saw exactly one attempt, and the poll does not charge again.
    reconcile_payment.enqueue(charged["id"])
    deliver()
    assert len(intent_creates(stripe_sim, charged["id"])) == 1
    assert Payment.objects.get(pk=charged["id"]).status == "requires_action"
    # The customer follows the link and pays on Stripe Checkout (3-D Secure passes there).
    stripe_shopper.checkout(charged["checkout_url"], stripe_account.id, AUTH_REQUIRED)
    deliver()
    assert api.get(f"/v1/payments/{charged['id']}").json()["status"] == "succeeded"
    assert LedgerTransaction.objects.filter(reference=charged["id"]).count() == 1
    assert_ledger_balanced(org.id)


@pytest.mark.parametrize(
    ("card", "code"), [(DECLINED, "card_declined"), (INSUFFICIENT, "insufficient_funds")]
)
def test_saved_card_declines(
    api: Any,
    stripe_sim: Any,
    stripe_account: Any,
    stripe_shopper: Any,
    deliver: Any,
    card: str,
    code: str,
) -> None:
    customer, method = save_card(api, stripe_account, stripe_shopper, deliver, SUCCESS)
    reference = PaymentMethod.objects.get(pk=method).gateway_reference
    stripe_sim.method_cards[reference] = card.replace(" ", "")  # the card stops working
    charged = charge(api, customer, method)
    assert (charged["status"], charged["failure_code"]) == ("failed", code)
    assert deliver() == [200]
    assert Payment.objects.get(pk=charged["id"]).status == "failed"
    assert not LedgerTransaction.objects.filter(reference=charged["id"]).exists()


def test_a_card_gone_at_stripe_fails_the_payment(
    api: Any, stripe_sim: Any, stripe_account: Any, stripe_shopper: Any, deliver: Any
) -> None:
    customer, method = save_card(api, stripe_account, stripe_shopper, deliver, SUCCESS)
    stripe_sim.methods.clear()
    charged = charge(api, customer, method)
    assert (charged["status"], charged["failure_code"]) == ("failed", "payment_method_missing")


def test_a_lost_answer_is_settled_by_the_reconciliation_poll(
    api: Any, org: Any, stripe_sim: Any, stripe_account: Any, stripe_shopper: Any, deliver: Any
) -> None:
    customer, method = save_card(api, stripe_account, stripe_shopper, deliver, SUCCESS)
    stripe_sim.send_events = False  # and no webhook arrives either
    # Stripe charges the card, but neither the answer nor the SDK's retries get back.
    stripe_sim.drop_responses("/v1/payment_intents", 3)
    charged = charge(api, customer, method)
    assert charged["status"] == "pending"
    assert Payment.objects.get(pk=charged["id"]).gateway_reference == ""
    creates = intent_creates(stripe_sim, charged["id"])
    assert len(creates) == 3 and {r[3] for r in creates} == {f"{charged['id']}:charge"}
    assert (
        sum(
            1
            for i in stripe_sim.intents.values()
            if i["metadata"].get("kassa_payment_id") == charged["id"]
        )
        == 1
    )
    reconcile_payment.enqueue(charged["id"])
    deliver()
    settled = Payment.objects.get(pk=charged["id"])
    assert settled.status == "succeeded"
    assert settled.gateway_reference.startswith("pi_")
    assert LedgerTransaction.objects.filter(reference=charged["id"]).count() == 1
    assert_ledger_balanced(org.id)


def test_the_poll_settles_a_checkout_whose_events_were_lost(
    api: Any, stripe_sim: Any, stripe_account: Any, stripe_shopper: Any, deliver: Any
) -> None:
    stripe_sim.send_events = False
    payment = api.post("/v1/payments", {"amount": 800, "currency": "USD"}).json()
    stripe_shopper.checkout(payment["checkout_url"], stripe_account.id, SUCCESS)
    assert Payment.objects.get(pk=payment["id"]).gateway_reference.startswith("cs_")
    reconcile_payment.enqueue(payment["id"])
    deliver()
    settled = Payment.objects.get(pk=payment["id"])
    assert (settled.status, settled.gateway_reference[:3]) == ("succeeded", "pi_")


def test_the_poll_does_not_search_for_a_checkout_never_started(
    api: Any, stripe_sim: Any, stripe_account: Any, deliver: Any
) -> None:
    payment = api.post("/v1/payments", {"amount": 800, "currency": "EUR"}).json()
    reconcile_payment.enqueue(payment["id"])
    deliver()
    assert Payment.objects.get(pk=payment["id"]).status == "pending"
    assert stripe_sim.requests == []
