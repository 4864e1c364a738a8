"""A customer pays through the hosted checkout and the sandbox card page in chromium."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.core.actors import Actor
from kassa.core.services import create_api_key
from kassa.payments.accounts import create_gateway_account
from kassa.payments.models import Payment
from tests.browser import page  # noqa: F401  (fixture)
from tests.conftest import ApiClient, make_org, run_tasks
from tests.ledger.helpers import assert_ledger_balanced

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop(live_server: Any, settings: Any) -> ApiClient:
    settings.KASSA_BASE_URL = live_server.url
    org = make_org("Samarkand Travel")
    create_gateway_account(
        org,
        provider="sandbox",
        test_mode=True,
        credentials={},
        currencies=["UZS"],
        is_default=True,
        actor=Actor.system("test"),
    )
    return ApiClient(create_api_key(org, actor=Actor.system("test")).secret)


def test_pay_with_the_sandbox_card(shop: ApiClient, page: Any) -> None:  # noqa: F811
    payment = shop.post(
        "/v1/payments", {"amount": 150000, "currency": "UZS", "description": "Bukhara day trip"}
    ).json()
    page.goto(payment["checkout_url"] + "?lang=en")
    assert page.get_by_test_id("amount").inner_text() == "UZS\xa01,500.00"
    page.get_by_role("button", name="Card (sandbox)").click()
    page.wait_for_url("**/sandbox/checkout/**")
    page.fill("#number", "4242 4242 4242 4242")
    page.fill("#exp_month", "12")
    page.fill("#exp_year", "39")
    page.fill("#cvc", "123")
    page.click("#pay")
    page.wait_for_selector("#result[data-status]")
    run_tasks()  # the worker delivers the provider's signed event
    page.reload()
    page.wait_for_selector('#result[data-status="succeeded"]')
    assert "Thank you" in page.inner_text("#result")
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"
    assert_ledger_balanced()


def test_confirmation_step_in_german(shop: ApiClient, page: Any) -> None:  # noqa: F811
    payment = shop.post("/v1/payments", {"amount": 990000, "currency": "UZS"}).json()
    page.goto(payment["checkout_url"] + "?lang=de")
    page.get_by_role("button", name="Karte (Sandbox)").click()
    page.fill("#number", "4000 0027 6000 3184")
    page.fill("#exp_month", "01")
    page.fill("#exp_year", "40")
    page.fill("#cvc", "999")
    page.click("#pay")
    page.wait_for_url("**/sandbox/authenticate/**")
    page.click("#approve")
    run_tasks()
    page.goto(payment["checkout_url"].replace("/checkout/", "/checkout/") + "/return?lang=de")
    page.wait_for_selector('#result[data-status="succeeded"]')
    assert "Vielen Dank" in page.inner_text("#result")
