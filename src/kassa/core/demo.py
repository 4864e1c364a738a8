"""`kassa demo`: demo data that can be loaded any number of times with the same result.

Apps add their own demo objects (a payable booking, a wallet) by registering a loader; each
loader returns links to print."""

from __future__ import annotations

import hashlib
import hmac
import string
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction

from kassa.core.actors import Actor
from kassa.core.models import ApiKey, Customer, Organization
from kassa.core.services import (
    add_staff_member,
    create_api_key,
    create_customer,
    create_organization,
    hash_api_key,
)

DEMO_ORG_NAME = "Kassa Demo Tours"
DEMO_STAFF_EMAIL = "demo@kassa.local"
DEMO_STAFF_PASSWORD = "kassa-demo-2026"  # noqa: S105 - a published demo credential
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
_loaders: list[Loader] = []


def register(loader: Loader) -> None:
    if loader not in _loaders:
        _loaders.append(loader)


def demo_api_key() -> str:
    """The same test key on every run (derived from the secret key), so it can be printed."""
    digest = hmac.new(settings.SECRET_KEY.encode(), b"kassa-demo-api-key", hashlib.sha256).digest()
    alphabet = string.ascii_letters + string.digits
    body = "".join(alphabet[b % len(alphabet)] for b in digest)[:28]
    return f"sk_test_demo{body}"


def load_demo() -> dict[str, Any]:
    actor = Actor.system("demo")
    with transaction.atomic():
        org = Organization.objects.filter(name=DEMO_ORG_NAME).order_by("created_at").first()
        if org is None:
            org = create_organization(
                name=DEMO_ORG_NAME,
                actor=actor,
                currency="UZS",
                timezone_name="Asia/Tashkent",
                locale="ru",
                legal_name="Kassa Demo Tours LLC",
                address_line1="Amir Temur 1",
                city="Tashkent",
                postal_code="100000",
                country="UZ",
                email="tours@example.com",
            )
        add_staff_member(
            org, email=DEMO_STAFF_EMAIL, role="owner", password=DEMO_STAFF_PASSWORD, actor=actor
        )
        secret = demo_api_key()
        if not ApiKey.objects.filter(key_hash=hash_api_key(secret)).exists():
            create_api_key(org, actor=actor, mode="test", name="demo", secret=secret)
        customers: dict[str, Customer] = {}
        for data in DEMO_CUSTOMERS:
            customer = Customer.objects.filter(organization=org, email=data["email"]).first()
            customers[data["email"]] = customer or create_customer(org, data)
    links: dict[str, str] = {}
    for loader in _loaders:
        links.update(loader(org, customers))
    return {
        "organization": {"id": org.id, "name": org.name},
        "staff": {"email": DEMO_STAFF_EMAIL, "password": DEMO_STAFF_PASSWORD},
        "api_key": secret,
        "links": links,
    }
