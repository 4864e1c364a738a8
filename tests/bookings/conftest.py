"""Fixtures for bookings: a customer, bookings made through the API, a sandbox gateway
account, a shopper that pays through the pay page, and a controllable clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from kassa.bookings import clock as booking_clock
from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.customers.services import create_customer
from tests.conftest import ApiClient
from tests.payments.conftest import CARDS, Shopper, path_of, shopper  # noqa: F401

__all__ = ["CARDS", "Clock", "Shopper", "path_of"]


class Clock:
    """The time bookings read, moved by hand."""

    def __init__(self, start: dt.datetime) -> None:
        self.current = start

    def now(self) -> dt.datetime:
        return self.current

    def set(self, value: dt.datetime) -> None:
        self.current = value

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(booking_clock.now())
    monkeypatch.setattr(booking_clock, "now", fake.now)
    return fake


def make_customer(org: Organization, **fields: Any) -> Customer:
    data = {"email": "dilnoza@example.com", "name": "Dilnoza", "locale": "ru", **fields}
    return create_customer(org, data)


@pytest.fixture
def customer(org: Organization) -> Customer:
    return make_customer(org)


def future(days: int = 30) -> str:
    return (booking_clock.now().date() + timedelta(days=days)).isoformat()


@pytest.fixture
def make_booking(api: ApiClient, customer: Customer) -> Callable[..., dict[str, Any]]:
    counter = {"n": 0}

    def run(client: ApiClient | None = None, **body: Any) -> dict[str, Any]:
        counter["n"] += 1
        payload = {
            "customer": customer.id,
            "reference": f"BK-{counter['n']}",
            "service_date": future(),
            "total_amount": 450_000_00,
            "currency": "UZS",
            "deposit_paid": 100_000_00,
            **body,
        }
        response = (client or api).post("/v1/bookings", payload)
        assert response.status_code == 200, response.content
        return dict(response.json())

    return run


def system() -> Actor:
    return Actor.system("test")
