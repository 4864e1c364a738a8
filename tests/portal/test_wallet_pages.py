"""The portal's wallet pages for a signed-in customer: dashboard, quick top-up with the bonus
shown before paying and paid with the sandbox card, auto top-up settings, history with
filters and CSV, the usage chart's data, payment methods, and other customers' wallets."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.payments.models import GatewayAccount, PaymentMethod
from kassa.wallets import services
from kassa.wallets.models import TopUp, Wallet
from kassa.wallets.rules import update_settings
from tests.conftest import make_org, run_tasks
from tests.ledger.helpers import assert_ledger_balanced
from tests.payments.conftest import CARDS, Shopper
from tests.portal.conftest import make_customer

pytestmark = pytest.mark.django_db

TIERS = [{"min_amount": 5_000, "basis_points": 500}, {"min_amount": 10_000, "basis_points": 1_000}]


def open_wallet(org: Organization, customer: Customer, balance: int = 10_000) -> Wallet:
    wallet = services.create_wallet(org, customer_id=customer.id, currency="EUR")
    if balance:
        services.adjust(wallet, amount=balance, reason="opening", actor=Actor.system("t"))
    return services.get_wallet(org, wallet.id)


@pytest.fixture
def wallet(org: Organization, customer: Customer) -> Wallet:
    return open_wallet(org, customer)


def charge(wallet: Wallet, amount: int, description: str = "Calls", key: str = "") -> str:
    result = services.charge(
        wallet, amount=amount, description=description, idempotency_key=key or None
    )
    return str(result["id"])


def usage_data(html: str, wallet: Wallet) -> dict[str, Any]:
    found = re.search(
        rf'<script id="usage-{wallet.id}" type="application/json">(.*?)</script>', html, re.S
    )
    assert found, "the chart's data is on the page"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_the_dashboard(portal_client: Client, wallet: Wallet) -> None:
    charge(wallet, 1_250)
    html = portal_client.get("/portal/").content.decode()
    assert "€87.50" in html
    assert f'data-balance-stream="/portal/wallets/{wallet.id}/stream"' in html
    # Assets are served from here: no CDN, and the chart library ships with its licence.
    for src in re.findall(r'<script[^>]+src="([^"]+)"', html):
        assert src.startswith("/static/"), src
    assert "/static/portal/vendor/uplot/uPlot.iife.min.js" in html
    assert "/static/django_htmx/htmx-2.min.js" in html
    data = usage_data(html, wallet)
    assert len(data["days"]) == len(data["amounts"]) == 30
    assert data["amounts"][-1] == 1_250 and sum(data["amounts"]) == 1_250
    assert data["exponent"] == 2


def test_the_dashboard_speaks_german(org: Organization, sign_in: Callable[..., Client]) -> None:
    jonas = make_customer(org, email="jonas@example.de", locale="de", name="Jonas")
    open_wallet(org, jonas, balance=123_456)
    html = sign_in(jonas).get("/portal/").content.decode()
    assert "1.234,56\xa0€" in html
    assert "Guthaben (EUR)" in html and "Aufladen" in html
    russian = sign_in(jonas).get("/portal/?lang=ru").content.decode()
    assert "Пополнить" in russian
    uzbek = sign_in(jonas).get("/portal/?lang=uz").content.decode()
    assert "Toʻldirish" in uzbek


def test_usage_counts_charges_net_of_reversals(portal_client: Client, wallet: Wallet) -> None:
    charge(wallet, 1_000)
    reversed_id = charge(wallet, 400)
    services.reverse_charge(wallet.organization, reversed_id)
    services.adjust(wallet, amount=5_000, reason="goodwill", actor=Actor.system("t"))
    data = usage_data(portal_client.get("/portal/").content.decode(), wallet)
    assert data["amounts"][-1] == 1_000


def test_quick_top_up_shows_the_bonus_before_paying(
    org: Organization, portal_client: Client, wallet: Wallet
) -> None:
    update_settings(org, "EUR", {"bonus_tiers": TIERS, "min_topup": 500}, actor=Actor.system("t"))
    page = portal_client.get("/portal/").content.decode()
    # Presets include where each tier starts, with its bonus.
    assert 'data-amount="50.00"' in page and "+€2.50" in page
    assert 'data-amount="100.00"' in page and "+€10.00" in page
    preview = portal_client.get(
        f"/portal/wallets/{wallet.id}/top-up/preview", {"amount": "100"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "+€10.00" in preview and "€110.00" in preview and "€210.00" in preview
    small = portal_client.get(
        f"/portal/wallets/{wallet.id}/top-up/preview", {"amount": "20,00"}
    ).content.decode()
    assert 'data-testid="bonus">—' in small
    too_small = portal_client.get(
        f"/portal/wallets/{wallet.id}/top-up/preview", {"amount": "1"}
    ).content.decode()
    assert "The smallest top-up is €5.00." in too_small
    nonsense = portal_client.get(
        f"/portal/wallets/{wallet.id}/top-up/preview", {"amount": "ten"}
    ).content.decode()
    assert 'role="alert"' in nonsense


def test_top_up_with_the_sandbox_card(
    org: Organization,
    portal_client: Client,
    wallet: Wallet,
    sandbox: GatewayAccount,
    shopper: Shopper,
) -> None:
    update_settings(org, "EUR", {"bonus_tiers": TIERS}, actor=Actor.system("t"))
    response = portal_client.post(
        f"/portal/wallets/{wallet.id}/top-up", {"amount": "100.00", "save_card": "on"}
    )
    assert response.status_code == 302
    checkout = response["Location"]
    assert "/checkout/" in checkout
    topup = TopUp.objects.get(wallet=wallet)
    assert (topup.amount, topup.bonus_amount, topup.status) == (10_000, 1_000, "pending")
    shopper.pay(checkout.split("?")[0], sandbox.id, CARDS["success"])
    run_tasks()
    topup.refresh_from_db()
    assert topup.status == "succeeded"
    assert "€210.00" in portal_client.get("/portal/").content.decode()
    assert_ledger_balanced(org.id)
    # The card was saved: it is listed, and auto top-up can use it.
    method = PaymentMethod.objects.get(customer_id=wallet.customer_id)
    listing = portal_client.get("/portal/payment-methods").content.decode()
    assert method.last4 in listing and method.id in listing


def test_a_refused_top_up_is_explained(
    org: Organization, portal_client: Client, wallet: Wallet, sandbox: GatewayAccount
) -> None:
    update_settings(org, "EUR", {"max_topup": 50_000}, actor=Actor.system("t"))
    response = portal_client.post(f"/portal/wallets/{wallet.id}/top-up", {"amount": "1000"})
    assert response.status_code == 400
    assert "The largest top-up is €500.00." in response.content.decode()
    assert TopUp.objects.count() == 0


def saved_card(org: Organization, customer: Customer, sandbox: GatewayAccount) -> PaymentMethod:
    return PaymentMethod.objects.create(
        organization=org,
        customer=customer,
        gateway_account=sandbox,
        gateway_reference=f"pm_sandbox_{customer.id}",
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2039,
    )


def test_auto_top_up_settings(
    org: Organization,
    customer: Customer,
    portal_client: Client,
    wallet: Wallet,
    sandbox: GatewayAccount,
) -> None:
    url = f"/portal/wallets/{wallet.id}/auto-top-up"
    refused = portal_client.post(url, {"enabled": "on", "threshold": "20", "amount": "50"})
    assert refused.status_code == 400
    assert "Choose a saved card" in refused.content.decode()
    method = saved_card(org, customer, sandbox)
    assert method.id in portal_client.get(url).content.decode()
    saved = portal_client.post(
        url, {"enabled": "on", "threshold": "20", "amount": "50", "payment_method": method.id}
    )
    assert saved.status_code == 200 and 'id="auto-saved"' in saved.content.decode()
    wallet.refresh_from_db()
    assert (wallet.auto_topup_enabled, wallet.auto_topup_threshold, wallet.auto_topup_amount) == (
        True,
        2_000,
        5_000,
    )
    assert wallet.auto_topup_payment_method_id == method.id
    # Removing the card switches auto top-up off and takes the card off the list.
    removed = portal_client.post(
        f"/portal/payment-methods/{method.id}/remove", HTTP_HX_REQUEST="true"
    )
    assert removed.status_code == 200 and 'id="no-methods"' in removed.content.decode()
    wallet.refresh_from_db()
    method.refresh_from_db()
    assert (wallet.auto_topup_enabled, method.status) == (False, "removed")
    off = portal_client.post(url, {"threshold": "10", "amount": "50"})
    assert off.status_code == 200


def test_history_filters_and_csv(portal_client: Client, wallet: Wallet) -> None:
    charge(wallet, 1_500, "Calls to Berlin")
    charge(wallet, 300, "SMS bundle")
    charge(wallet, 700, "Calls to Tashkent")
    page = portal_client.get("/portal/history").content.decode()
    assert page.count("<tr data-type=") == 4  # three charges and the opening adjustment
    only_charges = portal_client.get(
        "/portal/history", {"wallet": wallet.id, "type": "charge"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert only_charges.count('data-type="charge"') == 3 and "<html" not in only_charges
    calls = portal_client.get("/portal/history", {"q": "Calls", "min": "6", "max": "10"})
    body = calls.content.decode()
    assert "Calls to Tashkent" in body and "Calls to Berlin" not in body
    assert "SMS bundle" not in body
    dated = portal_client.get("/portal/history", {"from": "2000-01-01", "to": "2000-12-31"})
    assert 'id="no-rows"' in dated.content.decode()

    export = portal_client.get(f"/portal/wallets/{wallet.id}/transactions.csv", {"type": "charge"})
    assert export.status_code == 200
    assert export["Content-Type"] == "text/csv; charset=utf-8"
    assert f"{wallet.id}-transactions.csv" in export["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [(r["type"], r["amount"]) for r in rows] == [
        ("charge", "-700"),
        ("charge", "-300"),
        ("charge", "-1500"),
    ]


def test_history_pages(portal_client: Client, wallet: Wallet) -> None:
    for n in range(30):
        charge(wallet, 10, f"call {n}")
    first = portal_client.get("/portal/history").content.decode()
    assert first.count("<tr data-type=") == 25
    older = re.search(r'href="(/portal/history\?[^"]+starting_after=wtx_\d+)"', first)
    assert older
    second = portal_client.get(older.group(1).replace("&amp;", "&")).content.decode()
    assert second.count("<tr data-type=") == 6 and 'id="older"' not in second


def test_other_customers_wallets_are_not_found(
    org: Organization, customer: Customer, portal_client: Client, wallet: Wallet
) -> None:
    neighbour = open_wallet(org, make_customer(org, email="bob@example.com", name="Bob"))
    elsewhere_org = make_org("Other Shop")
    elsewhere = open_wallet(elsewhere_org, make_customer(elsewhere_org))  # same email!
    for other in (neighbour, elsewhere):
        for url in (
            f"/portal/wallets/{other.id}/top-up/preview?amount=10",
            f"/portal/wallets/{other.id}/auto-top-up",
            f"/portal/wallets/{other.id}/transactions.csv",
            f"/portal/history?wallet={other.id}",
        ):
            assert portal_client.get(url).status_code == 404, url
        assert (
            portal_client.post(f"/portal/wallets/{other.id}/top-up", {"amount": "10"}).status_code
            == 404
        )
    assert neighbour.id not in portal_client.get("/portal/").content.decode()


def test_pages_need_a_signed_in_customer(wallet: Wallet) -> None:
    anonymous = Client()
    for url in (
        "/portal/",
        "/portal/history",
        "/portal/payment-methods",
        "/portal/notifications",
        f"/portal/wallets/{wallet.id}/auto-top-up",
        f"/portal/wallets/{wallet.id}/transactions.csv",
    ):
        response = anonymous.get(url)
        assert response.status_code == 302 and response["Location"] == "/portal/sign-in", url
