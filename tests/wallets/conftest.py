from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.customers.services import create_customer
from kassa.wallets import services
from kassa.wallets.models import Wallet
from tests.payments.conftest import CARDS, Shopper, path_of, pay, shopper  # noqa: F401


@pytest.fixture
def customer(org: Organization) -> Customer:
    return create_customer(org, {"email": "ada@example.com", "name": "Ada", "locale": "en"})


@pytest.fixture
def make_wallet(org: Organization, customer: Customer) -> Callable[..., Wallet]:
    def build(balance: int = 0, currency: str = "EUR", **kwargs: Any) -> Wallet:
        wallet = services.create_wallet(org, customer_id=customer.id, currency=currency, **kwargs)
        wallet = services.get_wallet(org, wallet.id)
        if balance:
            services.adjust(wallet, amount=balance, reason="test funding", actor=Actor.system("t"))
        return services.get_wallet(org, wallet.id)

    return build


@pytest.fixture
def wallet(make_wallet: Callable[..., Wallet]) -> Wallet:
    return make_wallet(10_000)
