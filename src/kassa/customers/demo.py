"""`kassa demo`: demo data that can be loaded any number of times with the same result.

The demo organization, its staff sign-in and API key come from `kassa.core.demo`; this adds the
demo customers. Apps above this one add their own demo objects (a payable booking, a wallet) by
registering a loader; each loader gets the organization and the customers by email, and returns
links to print. `kassa demo --reset` first calls the registered resetters, which make the demo
objects usable again (a paid demo booking is followed by a new one: nothing is deleted)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from kassa.core.demo import DEMO_STAFF_EMAIL, DEMO_STAFF_PASSWORD, ensure_demo_organization
from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.customers.services import create_customer

DEMO_CUSTOMERS = [
    {
        "email": "dilnoza@example.com",
        "name": "Dilnoza Karimova",
        "phone": "+998901234567",
        "locale": "ru",
    },
    {
        "email": "jonas@example.com",
        "name": "Jonas Becker",
        "phone": "+4915123456789",
        "locale": "de",
    },
    {"email": "emma@example.com", "name": "Emma Wilson", "locale": "en"},
]

Loader = Callable[[Organization, dict[str, Customer]], dict[str, str]]
Resetter = Callable[[Organization, dict[str, Customer]], None]
_loaders: list[Loader] = []
_resetters: list[Resetter] = []


def register(loader: Loader) -> None:
    if loader not in _loaders:
        _loaders.append(loader)


def register_reset(resetter: Resetter) -> None:
    """`kassa demo --reset` calls `resetter` before the loaders: it makes its demo objects
    usable again without deleting or editing anything that money moved through."""
    if resetter not in _resetters:
        _resetters.append(resetter)


def load_demo(*, reset: bool = False) -> dict[str, Any]:
    # One transaction for the organization and its customers, as before the split: a failed
    # load leaves no half-made demo organization behind.
    with transaction.atomic():
        org, secret = ensure_demo_organization()
        customers: dict[str, Customer] = {}
        for data in DEMO_CUSTOMERS:
            customer = Customer.objects.filter(organization=org, email=data["email"]).first()
            customers[data["email"]] = customer or create_customer(org, data)
    if reset:
        for resetter in _resetters:
            resetter(org, customers)
    links: dict[str, str] = {}
    for loader in _loaders:
        links.update(loader(org, customers))
    return {
        "organization": {"id": org.id, "name": org.name},
        "staff": {"email": DEMO_STAFF_EMAIL, "password": DEMO_STAFF_PASSWORD},
        "api_key": secret,
        "links": links,
    }
