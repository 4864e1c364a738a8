from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from kassa.payments.models import GatewayAccount

CARDS = {
    "success": "4242 4242 4242 4242",
    "declined": "4000 0000 0000 0002",
    "insufficient": "4000 0000 0000 9995",
    "3ds": "4000 0027 6000 3184",
}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Shopper:
    """A customer's browser, driven through the hosted checkout and the sandbox card page."""

    def __init__(self) -> None:
        self.client = Client()

    def open_checkout(self, checkout_url: str, lang: str | None = None) -> Any:
        url = path_of(checkout_url) + (f"?lang={lang}" if lang else "")
        return self.client.get(url)

    def choose(self, checkout_url: str, account_id: str) -> str:
        response = self.client.post(
            path_of(checkout_url) + "/start", {"gateway_account": account_id}
        )
        assert response.status_code == 302, response.content.decode()[:500]
        return response["Location"]

    def pay_card(self, sandbox_url: str, card: str, save: bool = False) -> str:
        response = self.client.post(
            path_of(sandbox_url),
            {"number": card, "exp_month": "12", "exp_year": "39", "cvc": "123"},
        )
        assert response.status_code == 302, response.content.decode()[:800]
        return response["Location"]

    def authenticate(self, url: str, approve: bool) -> str:
        response = self.client.post(path_of(url), {"decision": "approve" if approve else "fail"})
        assert response.status_code == 302
        return response["Location"]

    def pay(self, checkout_url: str, account_id: str, card: str, approve_3ds: bool = True) -> str:
        sandbox_url = self.choose(checkout_url, account_id)
        after = self.pay_card(sandbox_url, card)
        if "/sandbox/authenticate/" in after:
            after = self.authenticate(after, approve_3ds)
        return after


@pytest.fixture
def shopper() -> Shopper:
    return Shopper()


@pytest.fixture
def pay(
    api: Any, sandbox: GatewayAccount, shopper: Shopper, tasks: Callable[[], int]
) -> Callable[..., dict[str, Any]]:
    """Create a payment through the API and pay it with a test card; returns the payment JSON."""

    def run(
        card: str = CARDS["success"], amount: int = 150000, currency: str = "UZS", **body: Any
    ) -> dict[str, Any]:
        created = api.post("/v1/payments", {"amount": amount, "currency": currency, **body})
        assert created.status_code == 200, created.content
        payment = created.json()
        shopper.pay(payment["checkout_url"], sandbox.id, card)
        tasks()
        return api.get(f"/v1/payments/{payment['id']}").json()

    return run
