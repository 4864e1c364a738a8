"""Signing in to the portal: the emailed single-use link, its expiry, rate limits, CSRF,
the session cookie and signing out."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.notifications.models import Notification
from kassa.portal import signin
from kassa.portal.models import SignInRequest
from tests.conftest import make_org, run_tasks
from tests.mail import SmtpServer, text_and_html
from tests.portal.conftest import emailed_link, make_customer, path_of

pytestmark = pytest.mark.django_db


def test_the_emailed_link_signs_in_once(customer: Customer, smtp: SmtpServer) -> None:
    browser = Client()
    page = browser.get("/portal/")
    assert page.status_code == 302 and page["Location"] == "/portal/sign-in"
    response = browser.post("/portal/sign-in", {"email": "  Anna@Example.com "})
    assert response.status_code == 200
    assert "Check your email" in response.content.decode()
    run_tasks()
    message = smtp.wait_for(1)[0]
    assert message["To"] == "anna@example.com"
    assert message["Subject"] == "Your sign-in link for Acme Tours"
    text, _html = text_and_html(message)
    assert "works once, for 15 minutes" in text and "Hello Anna," in text
    link = emailed_link(smtp)
    # Only a hash of the token is stored.
    token = link.rsplit("/", 1)[1]
    assert not SignInRequest.objects.filter(token_hash=token).exists()

    # Opening the link does not spend it (mail scanners open links); the button does.
    confirm = browser.get(path_of(link))
    assert confirm.status_code == 200 and "Continue" in confirm.content.decode()
    assert browser.get(path_of(link)).status_code == 200
    signed_in = browser.post(path_of(link))
    assert signed_in.status_code == 302 and signed_in["Location"] == "/portal/"
    assert browser.session["kassa_portal_customer"] == customer.id

    # Single use: the same link again, from another browser, is refused.
    other = Client()
    assert other.get(path_of(link)).status_code == 410
    again = other.post(path_of(link))
    assert again.status_code == 410 and "no longer works" in again.content.decode()
    assert "kassa_portal_customer" not in other.session


def test_an_expired_link_is_refused(customer: Customer, smtp: SmtpServer) -> None:
    Client().post("/portal/sign-in", {"email": customer.email})
    run_tasks()
    link = emailed_link(smtp)
    SignInRequest.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    browser = Client()
    assert browser.post(path_of(link)).status_code == 410
    assert "kassa_portal_customer" not in browser.session


def test_links_expire_after_15_minutes(customer: Customer) -> None:
    signin.request_link(customer.email, ip_address="10.0.0.1", page_locale="en")
    row = SignInRequest.objects.get()
    assert row.expires_at - row.created_at == timedelta(minutes=15)


def test_the_email_speaks_the_customers_language(org: Organization, smtp: SmtpServer) -> None:
    make_customer(org, email="jonas@example.de", locale="de", name="Jonas")
    Client().post("/portal/sign-in?lang=en", {"email": "jonas@example.de"})
    run_tasks()
    message = smtp.wait_for(1)[0]
    text, html = text_and_html(message)
    assert message["Subject"] == "Ihr Anmeldelink für Acme Tours"
    assert "Hallo Jonas," in text and "Anmelden" in html


def test_an_unknown_address_gets_the_same_answer_and_no_email(
    customer: Customer, smtp: SmtpServer
) -> None:
    known = Client().post("/portal/sign-in", {"email": customer.email})
    unknown = Client().post("/portal/sign-in", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200

    def answer(response: object, email: str) -> str:
        html = response.content.decode()  # type: ignore[attr-defined]
        found = re.search(r'<section class="card narrow" id="link-sent">.*?</section>', html, re.S)
        assert found
        return found.group(0).replace(email, "X")

    assert answer(known, customer.email) == answer(unknown, "nobody@example.com")
    run_tasks()
    assert Notification.objects.filter(recipient="nobody@example.com").count() == 0
    assert SignInRequest.objects.filter(email="nobody@example.com", token_hash=None).count() == 1


def test_one_link_per_merchant_for_a_shared_address(org: Organization, smtp: SmtpServer) -> None:
    other = make_org("Other Shop")
    make_customer(org)
    make_customer(other)
    Client().post("/portal/sign-in", {"email": "anna@example.com"})
    run_tasks()
    subjects = sorted(m["Subject"] for m in smtp.wait_for(2))
    assert subjects == ["Your sign-in link for Acme Tours", "Your sign-in link for Other Shop"]


def test_sign_in_requests_are_rate_limited(customer: Customer) -> None:
    browser = Client()
    for _ in range(signin.MAX_PER_EMAIL):
        assert browser.post("/portal/sign-in", {"email": customer.email}).status_code == 200
    refused = browser.post("/portal/sign-in", {"email": customer.email})
    assert refused.status_code == 429
    assert refused["Retry-After"] == "900"
    assert SignInRequest.objects.count() == signin.MAX_PER_EMAIL  # nothing stored when refused
    # Per IP address too, whatever the addresses.
    for n in range(signin.MAX_PER_IP - signin.MAX_PER_EMAIL):
        assert browser.post("/portal/sign-in", {"email": f"x{n}@example.com"}).status_code == 200
    assert browser.post("/portal/sign-in", {"email": "new@example.com"}).status_code == 429
    # The window passes.
    SignInRequest.objects.update(created_at=timezone.now() - timedelta(minutes=16))
    assert browser.post("/portal/sign-in", {"email": customer.email}).status_code == 200


def test_a_bad_address_is_a_clear_error(customer: Customer) -> None:
    response = Client().post("/portal/sign-in", {"email": "not-an-address"})
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert SignInRequest.objects.count() == 0


def test_forms_need_the_csrf_token(customer: Customer, smtp: SmtpServer) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/portal/sign-in", {"email": customer.email}).status_code == 403
    page = strict.get("/portal/sign-in")
    token = page.cookies["csrftoken"].value
    sent = strict.post("/portal/sign-in", {"email": customer.email, "csrfmiddlewaretoken": token})
    assert sent.status_code == 200
    run_tasks()
    link = emailed_link(smtp)
    assert Client(enforce_csrf_checks=True).post(path_of(link)).status_code == 403
    assert SignInRequest.objects.filter(used_at__isnull=False).count() == 0


def test_the_session_cookie_is_locked_down(
    customer: Customer, sign_in: Callable[[Customer], Client], settings: object
) -> None:
    settings.SESSION_COOKIE_SECURE = True  # type: ignore[attr-defined]
    browser = Client()
    sign_in(customer, browser)
    cookie = browser.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["secure"] is True
    assert 0 < int(cookie["max-age"]) <= 12 * 3600


def test_signing_in_gets_a_fresh_session_key(
    customer: Customer, sign_in: Callable[[Customer], Client]
) -> None:
    browser = Client()
    browser.get("/portal/sign-in?lang=de")  # a session exists before signing in
    planted = browser.session.session_key
    sign_in(customer, browser)
    assert browser.session.session_key != planted


def test_sign_out(customer: Customer, sign_in: Callable[[Customer], Client]) -> None:
    browser = sign_in(customer)
    assert browser.get("/portal/notifications").status_code == 200
    assert browser.post("/portal/sign-out").status_code == 302
    assert browser.get("/portal/notifications").status_code == 302
