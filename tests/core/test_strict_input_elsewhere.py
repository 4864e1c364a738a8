"""The text and date rules outside the API: pages, the admin, the portal, gateway hooks,
idempotency (decision 036). Each of these answered 500 on PostgreSQL, or stored junk, before."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from kassa.bookings.models import Booking
from kassa.customers.models import Customer
from kassa.payments.models import GatewayAccount, GatewayEvent
from tests.conftest import ApiClient, assert_error
from tests.core.test_admin import staff_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/pay/x%00y",
        "/checkout/x%00y",
        "/sandbox/checkout/x%00y",
        "/hooks/sandbox/gwa_%00",
        "/portal/x%00",
        "/admin/customers/customer/cus_%00/change/",
    ],
)
def test_pages_with_nul_in_the_path_are_404(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404


def test_pages_refuse_nul_in_queries_and_forms(client: Client) -> None:
    assert client.get("/portal/sign-in?next=%00").status_code == 400
    response = client.post("/portal/sign-in", {"email": "a@b.c\x00"})
    assert response.status_code == 400
    assert b"NUL" in response.content


def test_a_cookie_that_cannot_be_stored_is_ignored(client: Client) -> None:
    client.cookies["sessionid"] = "\\000abcdefgh"  # http.cookies unquotes this to NUL
    client.cookies["kassa_portal"] = "\\000abcdefgh"
    assert client.get("/portal/sign-in").status_code == 200


def test_a_hook_body_with_a_raw_nul_is_refused_and_kept(
    client: Client, sandbox: GatewayAccount
) -> None:
    body = b'{"id": "evt_x", "type": "charge.succeeded"\x00}'
    response = client.post(
        f"/hooks/sandbox/{sandbox.id}",
        body,
        content_type="application/json",
        headers={"Kassa-Sandbox-Signature": "t=1,v1=00"},
    )
    assert response.status_code == 400, response.content
    kept = GatewayEvent.objects.get(gateway_account=sandbox)
    assert kept.status == "rejected" and "\x00" not in kept.payload and "\ufffd" in kept.payload


def test_a_booking_stored_with_a_date_out_of_range_answers_4xx(api: ApiClient) -> None:
    """Rows written before the range rule: making a link answers a clear error, not 500."""
    customer = api.post("/v1/customers", {"name": "Ann"}).json()["id"]
    booking = api.post(
        "/v1/bookings",
        {
            "customer": customer,
            "reference": "R-1",
            "service_date": "2027-01-10",
            "total_amount": 1000,
            "currency": "UZS",
        },
    ).json()
    Booking.objects.filter(pk=booking["id"]).update(service_date=dt.date(1, 1, 1))
    response = api.post(f"/v1/bookings/{booking['id']}/payment_links", {})
    assert_error(response, 422, "date_out_of_range")
    Booking.objects.filter(pk=booking["id"]).update(service_date=dt.date(9999, 12, 31))
    response = api.post(f"/v1/bookings/{booking['id']}/payment_links", {})
    assert response.status_code < 500, response.content


def test_admin_refuses_unstorable_json(org: Any, sandbox: GatewayAccount) -> None:
    admin = staff_client(org, "admin", "admin@x.test")
    url = f"/admin/payments/gatewayaccount/{sandbox.id}/change/"
    page = admin.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(
        {
            "provider": "sandbox",
            "currencies": json.dumps(sandbox.currencies),
            "options": '{"note": "\\u0000"}',
            "credentials_json": "{}",
            "_save": "Save",
        }
    )
    response = admin.post(url, data)
    assert response.status_code == 200, response.status_code
    assert "lone surrogates" in response.content.decode()
    sandbox.refresh_from_db()
    assert "note" not in (sandbox.options or {})


def test_form_rules_bound_dates() -> None:
    from django import forms

    from kassa.core.form_rules import InputRulesFormMixin

    class Since(InputRulesFormMixin, forms.Form):
        since = forms.DateField()
        note = forms.JSONField()

    assert not Since({"since": "0001-01-01", "note": "{}"}).is_valid()
    assert not Since({"since": "2026-01-01", "note": '"\\ud800"'}).is_valid()
    assert Since({"since": "2026-01-01", "note": '"ok"'}).is_valid()


def test_idempotency_keys_compare_json_not_bytes(api: ApiClient) -> None:
    headers = {"Authorization": f"Bearer {api.secret}", "Idempotency-Key": "k-order"}
    first = api.client.post(
        "/v1/customers",
        '{"name": "Ann", "email": "ann@example.com"}',
        content_type="application/json",
        headers=headers,
    )
    again = api.client.post(
        "/v1/customers",
        '{ "email":"ann@example.com",\n "name":"Ann" }',
        content_type="application/json",
        headers=headers,
    )
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Customer.objects.count() == 1


def test_a_replayed_charge_says_so_in_its_body(api: ApiClient, sandbox: GatewayAccount) -> None:
    customer = api.post("/v1/customers", {"name": "Ann"}).json()["id"]
    wallet = api.post("/v1/wallets", {"customer": customer, "currency": "EUR"}).json()["id"]
    assert api.put("/v1/wallet_settings/EUR", {"credit_limit": 10_000}).status_code == 200
    first = api.post(f"/v1/wallets/{wallet}/charges", {"amount": 5}, idempotency_key="c-1")
    again = api.post(f"/v1/wallets/{wallet}/charges", {"amount": 5}, idempotency_key="c-1")
    assert first.status_code == again.status_code == 200, first.content
    assert first.json()["replayed"] is False
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["replayed"] is True
    assert again.json()["id"] == first.json()["id"]


@pytest.mark.parametrize(
    ("currency", "largest"), [("EUR", 99_999_999), ("USD", 99_999_999), ("UZS", 999_999_999_999)]
)
def test_amounts_stop_at_the_currencys_maximum(
    api: ApiClient, sandbox: GatewayAccount, currency: str, largest: int
) -> None:
    GatewayAccount.objects.filter(pk=sandbox.pk).update(currencies=["EUR", "USD", "UZS"])
    ok = api.post("/v1/payments", {"amount": largest, "currency": currency})
    assert ok.status_code == 200, ok.content
    error = assert_error(
        api.post("/v1/payments", {"amount": largest + 1, "currency": currency}),
        400,
        "invalid_amount",
        "amount",
    )
    assert str(largest) in error["message"]
