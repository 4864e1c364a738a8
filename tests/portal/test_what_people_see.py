"""The portal in the customer's own terms: refusals in the page's language with amounts in its
format, a preview that refuses what paying would refuse, amounts typed in the page's digits,
Kassa's wording where Django's admin has another, every notification named in the language,
and times on the organization's clock."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable

import pytest
from django.test import Client
from django.utils import dateformat

from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.core.money import MAX_AMOUNT
from kassa.customers.models import Customer
from kassa.ledger.models import LedgerEntry
from kassa.notifications.registry import registered_types
from kassa.payments.models import GatewayAccount
from kassa.portal.views_account import HIDDEN_TYPES
from kassa.wallets import services
from kassa.wallets.models import TopUp, Wallet
from kassa.wallets.rules import update_settings
from tests.portal.conftest import make_customer

pytestmark = pytest.mark.django_db

SignIn = Callable[..., Client]


def euro_wallet(org: Organization, customer: Customer, balance: int = 10_000) -> Wallet:
    wallet = services.create_wallet(org, customer_id=customer.id, currency="EUR")
    services.adjust(wallet, amount=balance, reason="opening", actor=Actor.system("t"))
    return services.get_wallet(org, wallet.id)


def preview(client: Client, wallet: Wallet, amount: str) -> str:
    response = client.get(f"/portal/wallets/{wallet.id}/top-up/preview", {"amount": amount})
    assert response.status_code == 200
    return response.content.decode()


def test_a_refusal_speaks_the_pages_language(
    org: Organization, sign_in: SignIn, sandbox: GatewayAccount
) -> None:
    update_settings(org, "EUR", {"min_topup": 500}, actor=Actor.system("t"))
    olga = make_customer(org, email="olga@example.ru", locale="ru", name="Olga")
    wallet = euro_wallet(org, olga)
    client = sign_in(olga)
    refused = client.post(f"/portal/wallets/{wallet.id}/top-up", {"amount": "1"})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "Минимальное пополнение — 5,00\xa0€." in html
    assert "The smallest top-up" not in html
    assert "Минимальное пополнение — 5,00\xa0€." in preview(client, wallet, "1")
    german = client.get(
        f"/portal/wallets/{wallet.id}/top-up/preview", {"amount": "1", "lang": "de"}
    ).content.decode()
    assert "Die kleinste Aufladung beträgt 5,00\xa0€." in german


def test_the_preview_refuses_what_paying_refuses(
    org: Organization, portal_client: Client, customer: Customer, sandbox: GatewayAccount
) -> None:
    wallet = euro_wallet(org, customer)
    too_much = str(MAX_AMOUNT // 100 + 1)  # in euros: one euro above the largest amount
    shown = preview(portal_client, wallet, too_much)
    assert 'role="alert"' in shown and 'data-testid="topup-preview"' not in shown
    paid = portal_client.post(f"/portal/wallets/{wallet.id}/top-up", {"amount": too_much})
    assert paid.status_code == 400
    # The same words on both, from the one rule (wallets.topups.checked_amount).
    assert "The amount must not exceed" in shown
    assert "The amount must not exceed" in paid.content.decode()
    assert TopUp.objects.count() == 0


@pytest.mark.parametrize("typed", ["١٢٣", "１２３", "1_000", "1e3", "12.5.0", "-5", "5 €"])
def test_amounts_are_typed_in_the_pages_digits(
    org: Organization,
    portal_client: Client,
    customer: Customer,
    sandbox: GatewayAccount,
    typed: str,
) -> None:
    wallet = euro_wallet(org, customer)
    assert "Enter the amount in digits" in preview(portal_client, wallet, typed)
    paid = portal_client.post(f"/portal/wallets/{wallet.id}/top-up", {"amount": typed})
    assert paid.status_code == 400 and "Enter the amount in digits" in paid.content.decode()
    assert TopUp.objects.count() == 0
    # A point or a comma before the cents are both fine.
    assert 'data-testid="topup-preview"' in preview(portal_client, wallet, "12,50")
    assert 'data-testid="topup-preview"' in preview(portal_client, wallet, "12.50")


def test_the_german_portal_uses_kassas_words(org: Organization, sign_in: SignIn) -> None:
    jonas = make_customer(org, email="jonas@example.de", locale="de", name="Jonas")
    euro_wallet(org, jonas)
    client = sign_in(jonas)
    history = client.get("/portal/history").content.decode()
    assert "Verlauf" in history and "Geschichte" not in history
    assert ">Suche<" in history and ">Filtern<" in history
    notifications = client.get("/portal/notifications").content.decode()
    assert "Speichern" in notifications and "Sichern" not in notifications
    assert ">E-Mail<" in notifications


@pytest.mark.parametrize("language", ["de", "ru", "uz"])
def test_every_notification_a_customer_chooses_is_named_in_their_language(
    org: Organization, sign_in: SignIn, language: str
) -> None:
    reader = make_customer(org, email=f"{language}@example.com", locale=language, name="R")
    page = sign_in(reader).get("/portal/notifications").content.decode()
    # Kassa's own types (tests/notifications registers "test.*" types for its own use).
    shown = [
        t.label
        for t in registered_types()
        if t.audience == "customer" and t.key not in HIDDEN_TYPES and not t.key.startswith("test.")
    ]
    assert "Confirm a payment" in shown
    untranslated = [label for label in shown if f"<td>{label}</td>" in page]
    assert not untranslated


def test_history_times_are_on_the_organizations_clock(
    org: Organization, portal_client: Client, customer: Customer
) -> None:
    wallet = euro_wallet(org, customer)
    entry = LedgerEntry.objects.get(account_id=wallet.ledger_account_id)
    tashkent = zoneinfo.ZoneInfo("Asia/Tashkent")  # the organization's zone, UTC+5
    local = dateformat.format(entry.created_at.astimezone(tashkent), "m/d/Y P")
    utc = dateformat.format(entry.created_at.astimezone(dt.UTC), "m/d/Y P")
    page = portal_client.get("/portal/history").content.decode()
    assert local in page and utc not in page
    # The days a customer filters by are days on the same clock.
    today = entry.created_at.astimezone(tashkent).date().isoformat()
    same_day = portal_client.get("/portal/history", {"from": today, "to": today})
    assert 'id="no-rows"' not in same_day.content.decode()


def test_why_auto_top_up_stopped_is_told_in_the_pages_language(
    org: Organization, sign_in: SignIn
) -> None:
    olga = make_customer(org, email="olga@example.ru", locale="ru", name="Olga")
    wallet = euro_wallet(org, olga)
    reason = "3 consecutive failures (last: card_declined)"  # what auto_topup stores, for staff
    Wallet.objects.filter(pk=wallet.id).update(
        auto_topup_failures=3, auto_topup_disabled_reason=reason
    )
    page = sign_in(olga).get(f"/portal/wallets/{wallet.id}/auto-top-up").content.decode()
    assert "Автопополнение отключено после 3 неудачных попыток подряд." in page
    assert reason not in page
