"""The portal in chromium, served by the real ASGI app (uvicorn): sign in from the emailed
link, watch the balance change live when a charge is posted through the API, and top up with
the sandbox card."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.core.services import create_api_key
from kassa.payments.accounts import create_gateway_account
from kassa.wallets import services
from kassa.wallets.models import Wallet
from kassa.wallets.rules import update_settings
from tests.asgi_server import ServerThread, asgi_server_fixture  # noqa: F401
from tests.browser import page  # noqa: F401  (fixture)
from tests.conftest import run_tasks
from tests.ledger.helpers import assert_ledger_balanced
from tests.mail import SmtpServer
from tests.portal.conftest import emailed_link, make_customer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_live_balance_and_top_up(
    asgi_server: ServerThread,
    org: Organization,
    smtp: SmtpServer,
    settings: Any,
    page: Any,  # noqa: F811
) -> None:
    # A loaded machine (CI, other test processes) can make one step take long; these are
    # waits for something to happen, not timing assertions.
    page.context.set_default_timeout(60_000)
    settings.KASSA_BASE_URL = asgi_server.url
    create_gateway_account(
        org,
        provider="sandbox",
        test_mode=True,
        credentials={},
        currencies=["EUR"],
        is_default=True,
        actor=Actor.system("test"),
    )
    update_settings(
        org,
        "EUR",
        {"bonus_tiers": [{"min_amount": 5_000, "basis_points": 1_000}]},
        actor=Actor.system("test"),
    )
    customer = make_customer(org, email="lena@example.com", name="Lena")
    wallet = services.create_wallet(org, customer_id=customer.id, currency="EUR")
    services.adjust(wallet, amount=10_000, reason="opening", actor=Actor.system("test"))
    key = create_api_key(org, actor=Actor.system("test"))

    # Sign in from the emailed link.
    page.goto(f"{asgi_server.url}/portal/sign-in")
    page.fill("#email", "lena@example.com")
    page.click("#send-link")
    page.wait_for_selector("#link-sent")
    run_tasks()
    page.goto(emailed_link(smtp))
    page.click("#continue")
    page.wait_for_url(f"{asgi_server.url}/portal/")
    box = '[data-testid="balance-box"]'
    assert page.inner_text('[data-testid="balance"]') == "€100.00"
    page.wait_for_selector(f'{box}[data-live="on"]')
    page.wait_for_selector('[data-testid="usage-chart"][data-rendered="true"]')

    # A charge posted through the API shows up without reloading.
    charged = httpx.post(
        f"{asgi_server.url}/v1/wallets/{wallet.id}/charges",
        json={"amount": 2_500, "description": "Calls"},
        headers={"Authorization": f"Bearer {key.secret}", "Idempotency-Key": "browser-1"},
        timeout=20,
    )
    assert charged.status_code == 200, charged.text
    page.wait_for_selector(f'{box}[data-balance="7500"]')
    assert page.inner_text('[data-testid="balance"]') == "€75.00"

    # Quick top-up: a preset shows the bonus before paying; pay in a second tab.
    page.click('button.preset[data-amount="50.00"]')
    page.wait_for_selector('[data-testid="bonus"]:has-text("+€5.00")')
    with page.context.expect_page() as opened:
        page.evaluate("document.querySelector('.topup-form').setAttribute('target', '_blank')")
        page.click('[data-testid="pay"]')
    checkout = opened.value
    checkout.wait_for_load_state()
    checkout.get_by_role("button", name="Card (sandbox)").click()
    checkout.wait_for_url("**/sandbox/checkout/**")
    checkout.fill("#number", "4242 4242 4242 4242")
    checkout.fill("#exp_month", "12")
    checkout.fill("#exp_year", "39")
    checkout.fill("#cvc", "123")
    checkout.click("#pay")
    checkout.wait_for_load_state()
    run_tasks()  # the worker takes the provider's event: the top-up and its bonus post
    # The first tab, still open, shows the new balance live: 75 + 50 + 5 bonus.
    page.wait_for_selector(f'{box}[data-balance="13000"]')
    assert page.inner_text('[data-testid="balance"]') == "€130.00"
    assert Wallet.objects.get(pk=wallet.id).ledger_account.balance == 13_000
    assert_ledger_balanced(org.id)
