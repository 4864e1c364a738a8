"""A customer in chromium: opens the link from the reminder email, pays with the sandbox
card, sees the success page; the booking is paid and the confirmation email arrives."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from kassa.bookings import clock, reminders, services
from kassa.core.actors import Actor
from kassa.payments.accounts import create_gateway_account
from tests.bookings.conftest import make_customer
from tests.browser import page  # noqa: F401  (fixture)
from tests.conftest import make_org, run_tasks
from tests.ledger.helpers import assert_ledger_balanced
from tests.mail import SmtpServer, text_and_html

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pay_the_emailed_link_in_chromium(
    live_server: Any,
    settings: Any,
    smtp: SmtpServer,
    page: Any,  # noqa: F811
) -> None:
    settings.KASSA_BASE_URL = live_server.url
    org = make_org("Samarkand Travel", timezone_name="Asia/Tashkent")
    create_gateway_account(
        org,
        provider="sandbox",
        test_mode=True,
        credentials={},
        currencies=["UZS"],
        is_default=True,
        actor=Actor.system("test"),
    )
    customer = make_customer(org, email="emma@example.com", name="Emma", locale="en")
    booking = services.create_booking(
        org,
        customer_id=customer.id,
        reference="DEMO-SAMARKAND",
        service_date=clock.now().date() + timedelta(days=5),
        description="Samarkand and Bukhara, 3 days",
        total_amount=4_500_000_00,
        currency="UZS",
        deposit_paid=1_000_000_00,
        livemode=False,
    )
    reminders.send_now(booking, actor=Actor.system("test"))
    run_tasks()
    (reminder,) = smtp.wait_for(1)
    text, _html = text_and_html(reminder)
    match = re.search(r"(https?://\S+/pay/[A-Za-z0-9_-]{64})", text)
    assert match is not None, text
    page.goto(match.group(1))
    assert page.get_by_test_id("reference").inner_text() == "DEMO-SAMARKAND"
    assert page.get_by_test_id("amount").inner_text() == "UZS\xa03,500,000.00"
    page.get_by_role("button", name="Card (sandbox)").click()
    page.wait_for_url("**/sandbox/checkout/**")
    page.fill("#number", "4242 4242 4242 4242")
    page.fill("#exp_month", "12")
    page.fill("#exp_year", "39")
    page.fill("#cvc", "123")
    page.click("#pay")
    page.wait_for_selector("#result[data-status], #pay-result[data-status]")
    run_tasks()  # the provider's signed event, then the emails
    page.reload()
    page.wait_for_selector('#pay-result[data-status="succeeded"]')
    assert "Thank you" in page.inner_text("#pay-result")
    assert page.get_by_test_id("paid-in-full").is_visible()

    booking.forget_amounts()
    assert booking.status == "paid" and booking.balance_due == 0
    subjects = [m["Subject"] for m in smtp.wait_for(3)]
    assert "Receipt: UZS 3,500,000.00 received for booking DEMO-SAMARKAND" in subjects
    assert "Booking DEMO-SAMARKAND is paid in full" in subjects
    assert_ledger_balanced(org.id)
