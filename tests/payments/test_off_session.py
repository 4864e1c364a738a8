"""Saved cards charged off-session through the sandbox, and the authentication path."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.payments.models import PaymentMethod
from tests.ledger.helpers import assert_ledger_balanced
from tests.payments.conftest import CARDS

pytestmark = pytest.mark.django_db


def save_card(api: Any, pay: Any, card: str) -> tuple[str, str]:
    customer = api.post("/v1/customers", {"email": "c@example.com", "name": "C"}).json()
    first = pay(
        card, amount=1000, currency="EUR", customer=customer["id"], save_payment_method=True
    )
    methods = api.get(f"/v1/customers/{customer['id']}/payment_methods").json()["data"]
    assert len(methods) == 1
    assert first["payment_method"] == methods[0]["id"]
    return customer["id"], methods[0]["id"]


def test_saved_card_is_charged_off_session(api: Any, pay: Any, org: Any, tasks: Any) -> None:
    customer, method = save_card(api, pay, CARDS["success"])
    method_json = api.get(f"/v1/payment_methods/{method}").json()
    assert (method_json["brand"], method_json["last4"]) == ("visa", "4242")
    charged = api.post(
        "/v1/payments",
        {"amount": 2500, "currency": "EUR", "customer": customer, "payment_method": method},
    )
    assert charged.status_code == 200, charged.content
    assert charged.json()["status"] == "succeeded"
    tasks()  # the provider's event for the same charge changes nothing more
    payments = api.get("/v1/payments", customer=customer).json()["data"]
    assert sorted(p["status"] for p in payments) == ["succeeded", "succeeded"]
    assert_ledger_balanced(org.id)


def test_authentication_required_asks_the_customer(
    api: Any, pay: Any, shopper: Any, sandbox: Any, tasks: Any, org: Any
) -> None:
    customer, method = save_card(api, pay, CARDS["3ds"])
    charged = api.post(
        "/v1/payments",
        {"amount": 2500, "currency": "EUR", "customer": customer, "payment_method": method},
    ).json()
    assert charged["status"] == "requires_action"
    assert charged["failure_code"] == "authentication_required"
    assert charged["checkout_url"]  # the link the customer gets to finish it on-session
    # No blind retry: the provider saw exactly one charge attempt for this payment.
    from kassa.payments.gateways.sandbox.models import SandboxCharge

    assert SandboxCharge.objects.filter(payment_id=charged["id"]).count() == 1
    shopper.pay(charged["checkout_url"], sandbox.id, CARDS["3ds"], approve_3ds=True)
    tasks()
    assert api.get(f"/v1/payments/{charged['id']}").json()["status"] == "succeeded"
    assert_ledger_balanced(org.id)


@pytest.mark.parametrize(
    ("card", "code"),
    [(CARDS["declined"], "card_declined"), (CARDS["insufficient"], "insufficient_funds")],
)
def test_saved_card_declines(api: Any, pay: Any, card: str, code: str) -> None:
    from kassa.payments.gateways.sandbox.models import SandboxCard

    customer, method = save_card(api, pay, CARDS["success"])
    SandboxCard.objects.update(number=card.replace(" ", ""))  # the card stops working
    charged = api.post(
        "/v1/payments",
        {"amount": 500, "currency": "EUR", "customer": customer, "payment_method": method},
    ).json()
    assert charged["status"] == "failed"
    assert charged["failure_code"] == code


def test_payment_method_rules(api: Any, pay: Any, make_api: Any) -> None:
    from tests.conftest import make_org

    customer, method = save_card(api, pay, CARDS["success"])
    other_customer = api.post("/v1/customers", {"name": "Other"}).json()["id"]
    wrong = api.post(
        "/v1/payments",
        {"amount": 500, "currency": "EUR", "customer": other_customer, "payment_method": method},
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"]["param"] == "payment_method"
    stranger = make_api(make_org("Stranger"))
    assert stranger.get(f"/v1/payment_methods/{method}").status_code == 404
    detached = api.post(f"/v1/payment_methods/{method}/detach").json()
    assert detached["status"] == "removed"
    gone = api.post(
        "/v1/payments",
        {"amount": 500, "currency": "EUR", "customer": customer, "payment_method": method},
    )
    assert gone.status_code == 404
    assert PaymentMethod.objects.get(pk=method).status == "removed"
