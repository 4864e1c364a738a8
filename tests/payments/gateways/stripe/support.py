"""Fixtures and helpers for the Stripe tests: the simulator, an account that uses it, and a
customer who pays on the simulator's Checkout page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.test import Client

from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.payments.accounts import create_gateway_account
from kassa.payments.models import GatewayAccount
from tests.simulators.stripe_sim import StripeSimulator

SUCCESS = "4242 4242 4242 4242"
DECLINED = "4000 0000 0000 0002"
INSUFFICIENT = "4000 0000 0000 9995"
AUTH_REQUIRED = "4000 0027 6000 3184"


@pytest.fixture
def stripe_sim() -> Iterator[StripeSimulator]:
    sim = StripeSimulator().start()
    yield sim
    sim.stop()


def make_stripe_account(org: Organization, sim: StripeSimulator, **options: Any) -> GatewayAccount:
    account = create_gateway_account(
        org,
        provider="stripe",
        test_mode=True,
        credentials={"secret_key": sim.secret_key, "webhook_secret": sim.webhook_secret},
        options={"api_base": sim.url, "timeout_seconds": "10", **options},
        name="Stripe",
        currencies=["EUR", "USD"],
        is_default=True,
        actor=Actor.system("test"),
    )
    sim.hook_path = f"/hooks/stripe/{account.id}"
    return account


@pytest.fixture
def stripe_account(org: Organization, stripe_sim: StripeSimulator) -> GatewayAccount:
    return make_stripe_account(org, stripe_sim)


def django_post(client: Client | None = None) -> Callable[[str, bytes, dict[str, str]], int]:
    """Stripe's webhook POST, made through Django's test client (same database transaction)."""
    http = client or Client()

    def post(path: str, body: bytes, headers: dict[str, str]) -> int:
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        response = http.post(path, body, content_type="application/json", headers=extra)
        return int(response.status_code)

    return post


@pytest.fixture
def deliver(stripe_sim: StripeSimulator, tasks: Callable[[], int]) -> Callable[[], list[int]]:
    """Send the simulator's pending events to Kassa and process them as the worker would."""

    def run() -> list[int]:
        statuses = stripe_sim.deliver(django_post())
        tasks()
        return statuses

    return run


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class StripeShopper:
    """The customer: picks Stripe on Kassa's checkout, then pays on the Checkout page."""

    def __init__(self, sim: StripeSimulator) -> None:
        self.sim = sim
        self.client = Client()

    def open_session(self, checkout_url: str, account_id: str) -> str:
        response = self.client.post(
            path_of(checkout_url) + "/start", {"gateway_account": account_id}
        )
        assert response.status_code == 302, response.content.decode()[:500]
        location = str(response["Location"])
        assert location.startswith(self.sim.url + "/pay/cs_test_"), location
        return location

    def pay(self, session_url: str, card: str) -> str:
        response = httpx.post(session_url, data={"card": card})
        assert response.status_code == 303, response.text
        return str(response.headers["location"])

    def checkout(self, checkout_url: str, account_id: str, card: str) -> str:
        return self.pay(self.open_session(checkout_url, account_id), card)


@pytest.fixture
def stripe_shopper(stripe_sim: StripeSimulator) -> StripeShopper:
    return StripeShopper(stripe_sim)


def balances(org_id: str) -> dict[str, int]:
    from tests.ledger.helpers import account_balances

    return account_balances(org_id, nonzero=True)
