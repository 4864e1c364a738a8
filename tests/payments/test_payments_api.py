"""The payments API: creation rules, idempotency, cancel, lists, test helpers, reconciliation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from kassa.core.models import IdempotencyRecord
from kassa.events.models import Event
from kassa.payments.models import Payment
from kassa.payments.tasks import reconcile_payment, reconcile_stale_payments
from tests.ledger.helpers import assert_ledger_balanced
from tests.payments.conftest import CARDS

pytestmark = pytest.mark.django_db


def test_create_payment_returns_checkout_url(api: Any, sandbox: Any) -> None:
    response = api.post(
        "/v1/payments",
        {
            "amount": 150000,
            "currency": "uzs",
            "description": "Tour deposit",
            "metadata": {"order": "A-1"},
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"].startswith("pay_")
    assert (body["status"], body["currency"], body["gateway_account"]) == (
        "pending",
        "UZS",
        sandbox.id,
    )
    assert body["checkout_url"].startswith("http://127.0.0.1:8000/checkout/")
    assert body["livemode"] is False and body["metadata"] == {"order": "A-1"}
    assert Event.objects.filter(type="payment.created", object_id=body["id"]).exists()


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"amount": 0, "currency": "EUR"}, 400, "amount"),
        ({"amount": -1, "currency": "EUR"}, 400, "amount"),
        ({"amount": 10.5, "currency": "EUR"}, 422, "amount"),
        ({"amount": 100, "currency": "XYZ"}, 400, "currency"),
        ({"amount": 100, "currency": "EUR", "customer": "cus_nope"}, 404, "customer"),
        ({"amount": 100, "currency": "EUR", "gateway_account": "gwa_nope"}, 404, "gateway_account"),
        (
            {"amount": 100, "currency": "EUR", "return_url": "javascript:alert(1)"},
            400,
            "return_url",
        ),
        ({"amount": 100, "currency": "USD"}, 400, "gateway_account"),  # no account takes USD
        (
            {"amount": 100, "currency": "EUR", "save_payment_method": True},
            400,
            "save_payment_method",
        ),
        ({"currency": "EUR"}, 422, "amount"),
    ],
)
def test_bad_payments_are_refused_and_change_nothing(
    api: Any, sandbox: Any, body: dict[str, Any], status: int, param: str
) -> None:
    response = api.post("/v1/payments", body)
    assert response.status_code == status, response.content
    assert response.json()["error"]["param"] == param
    assert Payment.objects.count() == 0
    assert Event.objects.filter(type__startswith="payment.").count() == 0


def test_live_keys_need_live_accounts(make_api: Any, org: Any, sandbox: Any) -> None:
    live = make_api(org, "live")
    response = live.post("/v1/payments", {"amount": 100, "currency": "EUR"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_gateway_account"


def test_idempotent_create(api: Any, sandbox: Any) -> None:
    body = {"amount": 100, "currency": "EUR"}
    first = api.post("/v1/payments", body, idempotency_key="order-17")
    second = api.post("/v1/payments", body, idempotency_key="order-17")
    assert first.json()["id"] == second.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert Payment.objects.count() == 1
    reused = api.post(
        "/v1/payments", {"amount": 101, "currency": "EUR"}, idempotency_key="order-17"
    )
    assert reused.status_code == 400
    assert IdempotencyRecord.objects.count() == 1


def test_cancel(api: Any, sandbox: Any, pay: Any) -> None:
    payment = api.post("/v1/payments", {"amount": 100, "currency": "EUR"}).json()
    canceled = api.post(f"/v1/payments/{payment['id']}/cancel").json()
    assert canceled["status"] == "canceled" and canceled["checkout_url"] is None
    again = api.post(f"/v1/payments/{payment['id']}/cancel")
    assert again.status_code == 409
    paid = pay(CARDS["success"], amount=100, currency="EUR")
    refused = api.post(f"/v1/payments/{paid['id']}/cancel")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "invalid_request_error"


def test_list_filters(api: Any, sandbox: Any, pay: Any) -> None:
    customer = api.post("/v1/customers", {"name": "A"}).json()["id"]
    pending = api.post(
        "/v1/payments", {"amount": 100, "currency": "EUR", "customer": customer}
    ).json()
    paid = pay(CARDS["success"], amount=200, currency="EUR")
    by_status = api.get("/v1/payments", status="succeeded").json()["data"]
    assert [p["id"] for p in by_status] == [paid["id"]]
    by_customer = api.get("/v1/payments", customer=customer).json()["data"]
    assert [p["id"] for p in by_customer] == [pending["id"]]
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    assert api.get("/v1/payments", created_gte=future).json()["data"] == []
    assert len(api.get("/v1/payments", created_lte=future).json()["data"]) == 2


def test_test_helper_completes_through_the_signed_path(api: Any, sandbox: Any, org: Any) -> None:
    from kassa.payments.models import GatewayEvent

    payment = api.post("/v1/payments", {"amount": 100, "currency": "EUR"}).json()
    done = api.post(f"/v1/test_helpers/payments/{payment['id']}/complete", {"outcome": "succeeded"})
    assert done.status_code == 200 and done.json()["status"] == "succeeded"
    assert GatewayEvent.objects.get().verified
    other = api.post("/v1/payments", {"amount": 100, "currency": "EUR"}).json()
    failed = api.post(
        f"/v1/test_helpers/payments/{other['id']}/complete", {"outcome": "failed"}
    ).json()
    assert failed["status"] == "failed"
    assert_ledger_balanced(org.id)


def test_test_helper_is_refused_for_live_keys(
    make_api: Any, org: Any, api: Any, sandbox: Any
) -> None:
    payment = api.post("/v1/payments", {"amount": 100, "currency": "EUR"}).json()
    live = make_api(org, "live")
    response = live.post(
        f"/v1/test_helpers/payments/{payment['id']}/complete", {"outcome": "succeeded"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "livemode_not_allowed"
    assert Payment.objects.get(pk=payment["id"]).status == "pending"


def test_reconciliation_settles_a_payment_whose_event_was_lost(
    api: Any, sandbox: Any, shopper: Any, org: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    payment = api.post("/v1/payments", {"amount": 100, "currency": "EUR"}).json()
    shopper.pay(payment["checkout_url"], sandbox.id, CARDS["success"])
    DBTaskResult.objects.all().delete()  # the provider's event never arrives
    Payment.objects.filter(pk=payment["id"]).update(updated_at=timezone.now() - timedelta(hours=1))
    assert reconcile_stale_payments.call() == 1
    assert reconcile_payment.call(payment["id"]) == "succeeded"
    assert reconcile_stale_payments.call() == 0
    assert_ledger_balanced(org.id)


def test_unpaid_checkout_expires(api: Any, sandbox: Any, shopper: Any) -> None:
    payment = api.post("/v1/payments", {"amount": 100, "currency": "EUR"}).json()
    shopper.choose(payment["checkout_url"], sandbox.id)
    Payment.objects.filter(pk=payment["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    from kassa.payments.gateways.sandbox.models import SandboxCheckout

    SandboxCheckout.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert reconcile_payment.call(payment["id"]) == "expired"
    assert Event.objects.filter(type="payment.expired").count() == 1
    page = shopper.open_checkout(payment["checkout_url"])
    assert b'data-status="expired"' in page.content


def test_late_success_after_expiry_is_accepted(api: Any, sandbox: Any, org: Any) -> None:
    payment = api.post("/v1/payments", {"amount": 100, "currency": "EUR"}).json()
    Payment.objects.filter(pk=payment["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    reconcile_payment.call(payment["id"])
    assert Payment.objects.get(pk=payment["id"]).status == "expired"
    done = api.post(
        f"/v1/test_helpers/payments/{payment['id']}/complete", {"outcome": "succeeded"}
    ).json()
    assert done["status"] == "succeeded"  # the money moved; our timer gives way
    assert_ledger_balanced(org.id)


def test_gateway_accounts_api(api: Any, make_api: Any) -> None:
    from tests.conftest import make_org

    created = api.post(
        "/v1/gateway_accounts",
        {
            "provider": "sandbox",
            "test_mode": True,
            "name": "Cards",
            "currencies": ["eur", "UZS"],
            "default": True,
            "credentials": {"signing_secret": "super-secret-value-1234"},
        },
    )
    assert created.status_code == 200, created.content
    account = created.json()
    assert account["id"].startswith("gwa_")
    assert account["currencies"] == ["EUR", "UZS"]
    assert account["credentials"]["signing_secret"].endswith("1234")
    assert "super-secret" not in created.content.decode()
    assert account["callback_urls"]["webhook"].endswith(f"/hooks/sandbox/{account['id']}")
    listing = api.get("/v1/gateway_accounts").json()["data"]
    assert [a["id"] for a in listing] == [account["id"]]
    updated = api.post(
        f"/v1/gateway_accounts/{account['id']}", {"name": "Renamed", "currencies": ["EUR"]}
    ).json()
    assert (updated["name"], updated["currencies"]) == ("Renamed", ["EUR"])
    disabled = api.post(f"/v1/gateway_accounts/{account['id']}/disable").json()
    assert disabled["status"] == "disabled"
    refused = api.post(
        "/v1/payments", {"amount": 100, "currency": "EUR", "gateway_account": account["id"]}
    )
    assert refused.status_code == 400
    stranger = make_api(make_org("Stranger"))
    assert stranger.get(f"/v1/gateway_accounts/{account['id']}").status_code == 404
    assert stranger.get("/v1/gateway_accounts").json()["data"] == []


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"provider": "paypal", "test_mode": True}, 422, "provider"),
        ({"provider": "sandbox", "test_mode": False}, 400, "test_mode"),
        (
            {"provider": "sandbox", "test_mode": True, "credentials": {"nope": "x"}},
            400,
            "credentials",
        ),
        ({"provider": "sandbox", "test_mode": True, "currencies": ["XXX"]}, 400, "currencies"),
        ({"provider": "sandbox", "test_mode": True, "currencies": []}, 400, "currencies"),
    ],
)
def test_gateway_account_validation(
    api: Any, body: dict[str, Any], status: int, param: str
) -> None:
    from kassa.payments.models import GatewayAccount

    response = api.post("/v1/gateway_accounts", body)
    assert response.status_code == status, response.content
    assert response.json()["error"]["param"] == param
    assert GatewayAccount.objects.count() == 0


def test_credentials_are_encrypted_at_rest(api: Any) -> None:
    from kassa.payments.models import GatewayAccount

    api.post(
        "/v1/gateway_accounts",
        {
            "provider": "sandbox",
            "test_mode": True,
            "credentials": {"signing_secret": "plain-text-secret-99"},
        },
    )
    stored = GatewayAccount.objects.get().credentials_encrypted
    assert "plain-text-secret-99" not in stored
    assert GatewayAccount.objects.get().credentials["signing_secret"] == "plain-text-secret-99"
