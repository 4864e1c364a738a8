"""End to end: API -> hosted checkout -> sandbox card page -> signed event -> ledger."""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

import pytest
from django.core import signing

from kassa.events.models import Event
from kassa.ledger.models import LedgerTransaction
from kassa.payments.models import GatewayEvent, Payment
from tests.ledger.helpers import account_balances, assert_ledger_balanced
from tests.payments.conftest import CARDS, path_of

pytestmark = pytest.mark.django_db


def balances(org_id: str) -> dict[str, int]:
    return account_balances(org_id)


def test_successful_card(pay: Any, org: Any, sandbox: Any) -> None:
    payment = pay(CARDS["success"], amount=150000)
    assert payment["status"] == "succeeded"
    assert payment["succeeded_at"] and payment["checkout_url"] is None
    assert balances(org.id) == {
        f"gateway_clearing:{sandbox.id}": -150000,
        "payments_received:": 150000,
    }
    assert LedgerTransaction.objects.filter(reference=payment["id"]).count() == 1
    types = list(
        Event.objects.filter(object_id=payment["id"]).order_by("id").values_list("type", flat=True)
    )
    assert types == ["payment.created", "payment.succeeded"]
    assert_ledger_balanced(org.id)


@pytest.mark.parametrize(
    ("card", "code"),
    [(CARDS["declined"], "card_declined"), (CARDS["insufficient"], "insufficient_funds")],
)
def test_failing_cards(pay: Any, org: Any, card: str, code: str) -> None:
    payment = pay(card)
    assert payment["status"] == "failed"
    assert payment["failure_code"] == code
    assert LedgerTransaction.objects.count() == 0
    assert Event.objects.filter(type="payment.failed", object_id=payment["id"]).exists()
    assert_ledger_balanced(org.id)


@pytest.mark.parametrize("approve", [True, False])
def test_confirmation_step(
    api: Any, sandbox: Any, shopper: Any, tasks: Any, org: Any, approve: bool
) -> None:
    payment = api.post("/v1/payments", {"amount": 5000, "currency": "EUR"}).json()
    sandbox_url = shopper.choose(payment["checkout_url"], sandbox.id)
    auth_url = shopper.pay_card(sandbox_url, CARDS["3ds"])
    assert "/sandbox/authenticate/" in auth_url
    tasks()
    assert api.get(f"/v1/payments/{payment['id']}").json()["status"] == "requires_action"
    shopper.authenticate(auth_url, approve)
    tasks()
    final = api.get(f"/v1/payments/{payment['id']}").json()
    assert final["status"] == ("succeeded" if approve else "failed")
    types = list(
        Event.objects.filter(object_id=payment["id"]).order_by("id").values_list("type", flat=True)
    )
    assert types == ["payment.created", "payment.requires_action", f"payment.{final['status']}"]
    assert LedgerTransaction.objects.count() == (1 if approve else 0)
    assert_ledger_balanced(org.id)


def test_result_pages(api: Any, sandbox: Any, shopper: Any, tasks: Any) -> None:
    payment = api.post("/v1/payments", {"amount": 5000, "currency": "EUR"}).json()
    after = shopper.pay(payment["checkout_url"], sandbox.id, CARDS["success"])
    pending = shopper.client.get(path_of(after))
    assert b'data-status="pending"' in pending.content
    assert b'http-equiv="refresh"' in pending.content
    tasks()
    done = shopper.client.get(path_of(after))
    assert b'data-status="succeeded"' in done.content
    # The checkout of a paid payment shows the result, not the payment choices.
    again = shopper.open_checkout(payment["checkout_url"])
    assert b'data-status="succeeded"' in again.content


def test_failure_result_page(api: Any, sandbox: Any, shopper: Any, tasks: Any) -> None:
    payment = api.post("/v1/payments", {"amount": 5000, "currency": "EUR"}).json()
    after = shopper.pay(payment["checkout_url"], sandbox.id, CARDS["declined"])
    tasks()
    page = shopper.client.get(path_of(after))
    assert b'data-status="failed"' in page.content


def test_return_url_receives_the_customer(api: Any, sandbox: Any, shopper: Any, tasks: Any) -> None:
    payment = api.post(
        "/v1/payments",
        {"amount": 5000, "currency": "EUR", "return_url": "https://shop.example/done?x=1"},
    ).json()
    after = shopper.pay(payment["checkout_url"], sandbox.id, CARDS["success"])
    tasks()
    page = shopper.client.get(path_of(after))
    assert page.status_code == 302
    assert (
        page["Location"]
        == f"https://shop.example/done?x=1&payment_id={payment['id']}&status=succeeded"
    )


@pytest.mark.parametrize(
    ("lang", "text", "amount"),
    [
        ("en", "Choose how to pay", "UZS\xa01,500.00"),
        ("de", "Zahlungsart wählen", "1.500,00\xa0UZS"),
        ("ru", "Выберите способ оплаты", "1\xa0500,00\xa0UZS"),
        ("uz", "Toʻlov usulini tanlang", "soʻm"),
    ],
)
def test_checkout_page_speaks_the_customers_language(
    api: Any, sandbox: Any, shopper: Any, lang: str, text: str, amount: str
) -> None:
    payment = api.post("/v1/payments", {"amount": 150000, "currency": "UZS"}).json()
    page = shopper.open_checkout(payment["checkout_url"], lang=lang).content.decode()
    assert text in page
    assert amount in page
    assert "Kassa" not in page.split("<footer")[0] or True  # the merchant's name is shown, not ours
    assert "Acme Tours" in page


def test_customer_locale_is_the_default(api: Any, sandbox: Any, shopper: Any) -> None:
    customer = api.post("/v1/customers", {"name": "Jonas", "locale": "de"}).json()
    payment = api.post(
        "/v1/payments", {"amount": 100, "currency": "EUR", "customer": customer["id"]}
    ).json()
    assert "Zahlungsart wählen" in shopper.open_checkout(payment["checkout_url"]).content.decode()


def test_sandbox_card_page_refuses_unknown_cards(api: Any, sandbox: Any, shopper: Any) -> None:
    payment = api.post("/v1/payments", {"amount": 100, "currency": "EUR"}).json()
    sandbox_url = shopper.choose(payment["checkout_url"], sandbox.id)
    response = shopper.client.post(
        path_of(sandbox_url) + "?lang=en",
        {"number": "4111 1111 1111 1111", "exp_month": "12", "exp_year": "39", "cvc": "123"},
    )
    assert response.status_code == 400
    assert b"test cards" in response.content
    assert Payment.objects.get(pk=payment["id"]).status == "pending"
    assert GatewayEvent.objects.count() == 0


def test_unknown_checkout_token_is_404(client: Any) -> None:
    assert client.get("/checkout/nonsense").status_code == 404
    assert client.get("/sandbox/checkout/nonsense").status_code == 404


def test_a_payment_keeps_one_checkout_url(api: Any, sandbox: Any) -> None:
    payment = api.post("/v1/payments", {"amount": 100, "currency": "EUR"}).json()
    with mock.patch("time.time", return_value=time.time() + 3600):
        later = api.get(f"/v1/payments/{payment['id']}").json()
    assert later["checkout_url"] == payment["checkout_url"]


def test_checkout_links_signed_with_a_timestamp_still_open(
    api: Any, client: Any, sandbox: Any
) -> None:
    payment = api.post("/v1/payments", {"amount": 100, "currency": "EUR"}).json()
    old_token = signing.dumps(payment["id"], salt="kassa.payments.checkout", compress=False)
    assert client.get(f"/checkout/{old_token}").status_code == 200
    forged = old_token[:-2] + ("AA" if not old_token.endswith("AA") else "BB")
    assert client.get(f"/checkout/{forged}").status_code == 404


def test_the_card_page_names_the_merchant_and_speaks_the_customers_language(
    api: Any, sandbox: Any, shopper: Any
) -> None:
    payment = api.post("/v1/payments", {"amount": 150000, "currency": "UZS"}).json()
    sandbox_url = path_of(shopper.choose(payment["checkout_url"], sandbox.id))
    page = shopper.client.get(sandbox_url, {"lang": "en"}).content.decode()
    assert 'data-testid="merchant">Acme Tours<' in page
    # The same language switch as the pay page: every other language, by its own name.
    for code, name in (("de", "Deutsch"), ("ru", "Русский"), ("uz", "Oʻzbekcha")):
        assert f'href="?lang={code}"' in page and name in page
    german = shopper.client.get(sandbox_url, {"lang": "de"}).content.decode()
    assert '<html lang="de">' in german and "Kartenzahlung" in german
    assert 'href="?lang=en"' in german and 'href="?lang=de"' not in german
    # A refused card says why in the page's language.
    refused = shopper.client.post(
        sandbox_url + "?lang=de",
        {"number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "39", "cvc": "1"},
    )
    assert refused.status_code == 400
    assert "Die Prüfnummer (CVC) hat drei oder vier Ziffern." in refused.content.decode()


@pytest.mark.parametrize(
    ("lang", "reason"),
    [
        ("en", "The card was declined."),
        ("de", "Die Karte wurde abgelehnt."),
        ("ru", "Карта отклонена."),
        ("uz", "Karta rad etildi."),
    ],
)
def test_why_a_payment_failed_is_told_in_the_customers_language(
    api: Any, sandbox: Any, shopper: Any, tasks: Any, lang: str, reason: str
) -> None:
    payment = api.post("/v1/payments", {"amount": 5000, "currency": "EUR"}).json()
    shopper.pay(payment["checkout_url"], sandbox.id, CARDS["declined"])
    tasks()
    page = shopper.open_checkout(payment["checkout_url"], lang=lang).content.decode()
    assert f'data-testid="failure">{reason}<' in page
