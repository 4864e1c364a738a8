"""Stripe Checkout end to end, through the real SDK and the local Stripe simulator."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.events.models import Event
from kassa.ledger.models import LedgerTransaction
from kassa.payments.models import GatewayEvent, Payment, PaymentMethod
from tests.ledger.helpers import assert_ledger_balanced
from tests.payments.gateways.stripe.support import DECLINED, SUCCESS, balances

pytestmark = pytest.mark.django_db


def new_payment(api: Any, amount: int = 1500, currency: str = "EUR", **body: Any) -> Any:
    created = api.post("/v1/payments", {"amount": amount, "currency": currency, **body})
    assert created.status_code == 200, created.content
    return created.json()


def test_checkout_succeeds_and_the_ledger_balances(
    api: Any, org: Any, stripe_sim: Any, stripe_account: Any, stripe_shopper: Any, deliver: Any
) -> None:
    payment = new_payment(api, 1500, description="Tour deposit")
    session_url = stripe_shopper.open_session(payment["checkout_url"], stripe_account.id)
    session = stripe_sim.sessions[session_url.rsplit("/", 1)[1]]
    assert session["client_reference_id"] == payment["id"]
    assert session["metadata"] == {"kassa_payment_id": payment["id"]}
    assert session["_intent_data"]["metadata"]["kassa_payment_id"] == payment["id"]
    assert (session["amount_total"], session["currency"]) == (1500, "eur")
    assert Payment.objects.get(pk=payment["id"]).gateway_reference == session["id"]

    after = stripe_shopper.pay(session_url, SUCCESS)
    assert "/checkout/" in after and after.endswith("/return")  # Kassa's result page
    assert Payment.objects.get(pk=payment["id"]).status == "pending"  # the events are not in
    assert deliver() == [200, 200]  # payment_intent.succeeded, checkout.session.completed

    paid = api.get(f"/v1/payments/{payment['id']}").json()
    assert paid["status"] == "succeeded"
    assert Payment.objects.get(pk=payment["id"]).gateway_reference.startswith("pi_")
    assert balances(org.id) == {
        f"gateway_clearing:{stripe_account.id}": -1500,
        "payments_received:": 1500,
    }
    assert LedgerTransaction.objects.filter(reference=payment["id"]).count() == 1
    assert Event.objects.filter(object_id=payment["id"], type="payment.succeeded").count() == 1
    assert set(GatewayEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert_ledger_balanced(org.id)


def test_a_declined_card_leaves_the_session_open(
    api: Any, org: Any, stripe_sim: Any, stripe_account: Any, stripe_shopper: Any, deliver: Any
) -> None:
    payment = new_payment(api)
    session_url = stripe_shopper.open_session(payment["checkout_url"], stripe_account.id)
    assert stripe_shopper.pay(session_url, DECLINED) == session_url
    assert deliver() == [200]  # payment_intent.payment_failed
    assert Payment.objects.get(pk=payment["id"]).status == "pending"
    # The customer comes back to Kassa's checkout and chooses Stripe again: same session.
    assert stripe_shopper.open_session(payment["checkout_url"], stripe_account.id) == session_url
    assert len(stripe_sim.sessions) == 1
    stripe_shopper.pay(session_url, SUCCESS)
    deliver()
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"
    assert LedgerTransaction.objects.filter(reference=payment["id"]).count() == 1
    assert_ledger_balanced(org.id)


def test_saving_the_card_at_checkout(
    api: Any, stripe_sim: Any, stripe_account: Any, stripe_shopper: Any, deliver: Any
) -> None:
    customer = api.post("/v1/customers", {"email": "anna@example.com", "name": "Anna"}).json()
    payment = new_payment(api, customer=customer["id"], save_payment_method=True)
    session_url = stripe_shopper.open_session(payment["checkout_url"], stripe_account.id)
    session = stripe_sim.sessions[session_url.rsplit("/", 1)[1]]
    assert session["_intent_data"]["setup_future_usage"] == "off_session"
    assert session["customer_creation"] == "always"
    stripe_shopper.pay(session_url, SUCCESS)
    deliver()
    method = PaymentMethod.objects.get(customer_id=customer["id"])
    assert method.gateway_reference.startswith("pm_")
    assert method.gateway_customer_reference.startswith("cus_")
    assert (method.brand, method.last4, method.exp_month) == ("visa", "4242", 12)
    paid = api.get(f"/v1/payments/{payment['id']}").json()
    assert (paid["status"], paid["payment_method"]) == ("succeeded", method.id)


def test_an_expired_session_expires_the_payment(
    api: Any, stripe_sim: Any, stripe_account: Any, stripe_shopper: Any, deliver: Any
) -> None:
    payment = new_payment(api)
    session_url = stripe_shopper.open_session(payment["checkout_url"], stripe_account.id)
    stripe_sim.expire_session(session_url.rsplit("/", 1)[1])
    assert deliver() == [200]
    assert Payment.objects.get(pk=payment["id"]).status == "expired"
    assert not LedgerTransaction.objects.filter(reference=payment["id"]).exists()


def test_canceling_expires_the_open_session(
    api: Any, stripe_sim: Any, stripe_account: Any, stripe_shopper: Any
) -> None:
    payment = new_payment(api)
    session_url = stripe_shopper.open_session(payment["checkout_url"], stripe_account.id)
    assert api.post(f"/v1/payments/{payment['id']}/cancel").json()["status"] == "canceled"
    assert stripe_sim.sessions[session_url.rsplit("/", 1)[1]]["status"] == "expired"


@pytest.mark.parametrize(
    ("credentials", "test_mode", "param"),
    [
        ({"secret_key": "sk_live_abc", "webhook_secret": "whsec_x"}, True, "secret_key"),
        ({"secret_key": "sk_test_abc", "webhook_secret": "whsec_x"}, False, "secret_key"),
        ({"secret_key": "pk_test_abc", "webhook_secret": "whsec_x"}, True, "secret_key"),
        ({"secret_key": "sk_test_abc", "webhook_secret": "secret"}, True, "webhook_secret"),
        ({"secret_key": "sk_test_abc"}, True, "webhook_secret"),
        (
            {
                "secret_key": "sk_test_abc",
                "webhook_secret": "whsec_x",
                "publishable_key": "pk_live_x",
            },
            True,
            "publishable_key",
        ),
    ],
)
def test_credentials_are_checked(
    api: Any, credentials: dict[str, str], test_mode: bool, param: str
) -> None:
    response = api.post(
        "/v1/gateway_accounts",
        {"provider": "stripe", "test_mode": test_mode, "credentials": credentials},
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == f"credentials.{param}"


def test_account_shows_its_webhook_url_and_masks_secrets(api: Any) -> None:
    response = api.post(
        "/v1/gateway_accounts",
        {
            "provider": "stripe",
            "test_mode": True,
            "credentials": {
                "secret_key": "sk_test_abcdefgh",
                "webhook_secret": "whsec_abcdefgh",
                "publishable_key": "pk_test_abc",
            },
            "currencies": ["EUR"],
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["callback_urls"]["webhook"].endswith(f"/hooks/stripe/{body['id']}")
    assert "sk_test_abcdefgh" not in response.content.decode()
    assert "whsec_abcdefgh" not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_events_over_real_http_to_a_running_kassa(
    live_server: Any, make_api: Any, stripe_sim: Any, stripe_shopper: Any
) -> None:
    from tests.conftest import make_org, run_tasks
    from tests.payments.gateways.stripe.support import make_stripe_account
    from tests.simulators.stripe_sim import http_transport

    org = make_org()
    account = make_stripe_account(org, stripe_sim)
    api = make_api(org)
    payment = api.post("/v1/payments", {"amount": 2000, "currency": "EUR"}).json()
    stripe_shopper.checkout(payment["checkout_url"], account.id, SUCCESS)
    assert stripe_sim.deliver(http_transport(live_server.url)) == [200, 200]
    run_tasks()
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"
    assert_ledger_balanced(org.id)


@pytest.mark.parametrize(("lang", "expected"), [("de", "de"), ("ru", "ru"), ("uz", "auto")])
def test_checkout_language_is_passed_on(
    api: Any, stripe_sim: Any, stripe_account: Any, stripe_shopper: Any, lang: str, expected: str
) -> None:
    payment = new_payment(api)
    stripe_shopper.client.get(f"/checkout/{payment['checkout_url'].rsplit('/', 1)[1]}?lang={lang}")
    session_url = stripe_shopper.open_session(payment["checkout_url"], stripe_account.id)
    assert stripe_sim.sessions[session_url.rsplit("/", 1)[1]]["locale"] == expected


def test_a_delayed_payment_method_is_processing_until_stripe_settles_it(
    api: Any, client: Any, stripe_sim: Any, stripe_account: Any, tasks: Any, org: Any
) -> None:
    import json
    import time

    from tests.simulators.stripe_sim import sign

    payment = new_payment(api, 3000)

    def send(kind: str, event_id: str, **session: Any) -> None:
        body = json.dumps(
            {
                "id": event_id,
                "object": "event",
                "type": kind,
                "livemode": False,
                "created": int(time.time()),
                "data": {
                    "object": {
                        "id": "cs_test_delayed",
                        "object": "checkout.session",
                        "client_reference_id": payment["id"],
                        "payment_intent": "pi_delayed",
                        "amount_total": 3000,
                        "currency": "eur",
                        **session,
                    }
                },
            }
        ).encode()
        response = client.post(
            f"/hooks/stripe/{stripe_account.id}",
            body,
            content_type="application/json",
            headers={"Stripe-Signature": sign(stripe_sim.webhook_secret, body)},
        )
        assert response.status_code == 200
        tasks()

    send("checkout.session.completed", "evt_d1", status="complete", payment_status="unpaid")
    assert Payment.objects.get(pk=payment["id"]).status == "processing"
    send("checkout.session.async_payment_succeeded", "evt_d2", status="complete")
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"
    assert_ledger_balanced(org.id)
