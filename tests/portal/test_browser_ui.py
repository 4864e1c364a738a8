"""The portal in chromium: one of "turn on" and "turn off" for browser notifications at a
time, and the usage chart's days written the way the page's language writes dates."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.wallets import services
from tests.browser import page  # noqa: F401  (fixture)
from tests.portal.conftest import make_customer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def signed_in(page: Any, live_server: Any, client: Client) -> None:  # noqa: F811
    """Hand the test client's portal session to the browser."""
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_only_the_push_button_that_applies_is_shown(
    live_server: Any,
    settings: Any,
    org: Organization,
    sign_in: Any,
    page: Any,  # noqa: F811
) -> None:
    # Waits for the browser (a loaded machine can be slow), not timing assertions.
    page.context.set_default_timeout(60_000)
    settings.KASSA_BASE_URL = live_server.url
    customer = make_customer(org, email="push@example.com")
    signed_in(page, live_server, sign_in(customer))
    page.goto(f"{live_server.url}/portal/notifications")
    page.wait_for_selector("#push-status:not(:empty)", state="attached")
    status = page.inner_text("#push-status")
    on, off = page.is_visible("#push-on"), page.is_visible("#push-off")
    if status == "Notifications are off in this browser.":
        assert (on, off) == (True, False)
    elif status == "Notifications are on in this browser.":
        assert (on, off) == (False, True)
    else:  # unsupported or blocked: nothing to press
        assert (on, off) == (False, False)


def test_the_usage_chart_writes_days_in_the_pages_language(
    live_server: Any,
    settings: Any,
    org: Organization,
    sign_in: Any,
    page: Any,  # noqa: F811
) -> None:
    page.context.set_default_timeout(60_000)
    settings.KASSA_BASE_URL = live_server.url
    customer = make_customer(org, email="jonas@example.de", locale="de", name="Jonas")
    wallet = services.create_wallet(org, customer_id=customer.id, currency="EUR")
    services.adjust(wallet, amount=10_000, reason="opening", actor=Actor.system("t"))
    services.charge(services.get_wallet(org, wallet.id), amount=250, description="Calls")
    signed_in(page, live_server, sign_in(customer))
    page.goto(f"{live_server.url}/portal/")
    page.wait_for_selector('[data-testid="usage-chart"][data-rendered="true"]')
    # 2030-12-15 00:00 in Tashkent (the organization's zone) is 2030-12-14 19:00 UTC.
    labels = page.evaluate(
        """() => {
            const chart = document.querySelector('[data-usage-chart]').kassaChart;
            return chart.axes[0].values(chart, [1923505200, 1923591600], 0, 0, 86400);
        }"""
    )
    assert labels == ["15. Dez.", "16. Dez."]
    russian = page.evaluate("() => window.kassaDayLabels('ru', 'Asia/Tashkent')(1923505200)")
    assert russian == "15 дек."
