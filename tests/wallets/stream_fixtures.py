"""Fixtures for the live balance stream tests: a customer's EUR wallet with an opening balance."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.core.actors import Actor
from kassa.wallets.models import Wallet
from kassa.wallets.services import adjust
from tests.asgi_server import asgi_server_fixture
from tests.conftest import ApiClient


def open_wallet(api: ApiClient, opening: int = 10_000, currency: str = "EUR") -> dict[str, Any]:
    customer = api.post("/v1/customers", {"email": "ops@example.com", "name": "Ops"}).json()
    created = api.post("/v1/wallets", {"customer": customer["id"], "currency": currency})
    assert created.status_code == 200, created.content
    wallet = created.json()
    if opening:
        adjust(
            Wallet.objects.get(pk=wallet["id"]),
            amount=opening,
            reason="opening balance",
            actor=Actor.system("test"),
        )
    return wallet


@pytest.fixture(name="wallet")
def wallet_fixture(api: ApiClient) -> dict[str, Any]:
    return open_wallet(api)


__all__ = ["asgi_server_fixture", "open_wallet", "wallet_fixture"]
