"""Portal fixtures: a merchant with a sandbox card account, a customer with an email
address, and signing in the way a customer does (the emailed link)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client

from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.customers.services import create_customer
from tests.conftest import run_tasks
from tests.mail import SmtpServer, text_and_html
from tests.payments.conftest import pay, shopper  # noqa: F401  (fixtures)

LINK = re.compile(r"https?://[^\s\"<>]+/portal/sign-in/[A-Za-z0-9_\-]+")


def make_customer(
    org: Organization, email: str = "anna@example.com", locale: str = "en", name: str = "Anna"
) -> Customer:
    return create_customer(org, {"email": email, "name": name, "locale": locale})


@pytest.fixture
def customer(org: Organization) -> Customer:
    return make_customer(org)


def emailed_link(smtp: SmtpServer, count: int = 1) -> str:
    """The sign-in link in the newest of `count` received emails (the text part)."""
    message = smtp.wait_for(count)[count - 1]
    text, html = text_and_html(message)
    found = LINK.search(text)
    assert found, text
    assert found.group(0) in html
    return found.group(0)


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


@pytest.fixture
def sign_in(smtp: SmtpServer) -> Callable[[Customer], Client]:
    """A browser (test client) signed in as the customer through the real flow."""

    def run(customer: Customer, client: Client | None = None) -> Client:
        client = client or Client()
        before = len(smtp.messages)
        response = client.post("/portal/sign-in", {"email": customer.email})
        assert response.status_code == 200, response.content.decode()[:500]
        run_tasks()
        link = emailed_link(smtp, before + 1)
        assert client.get(path_of(link)).status_code == 200
        response = client.post(path_of(link))
        assert response.status_code == 302 and response["Location"] == "/portal/"
        return client

    return run


@pytest.fixture
def portal_client(customer: Customer, sign_in: Callable[[Customer], Client]) -> Client:
    return sign_in(customer)
