"""The demo organization of `kassa demo`, with a staff sign-in and a test API key that are the
same on every run (loading it again changes nothing).

The customers app's demo builds the rest on top of it: the demo customers, and the demo
objects the higher apps register."""

from __future__ import annotations

import hashlib
import hmac
import string

from django.conf import settings
from django.db import transaction

from kassa.core.actors import Actor
from kassa.core.models import ApiKey, Organization
from kassa.core.services import (
    add_staff_member,
    create_api_key,
    create_organization,
    hash_api_key,
)

DEMO_ORG_NAME = "Kassa Demo Tours"
DEMO_STAFF_EMAIL = "demo@kassa.local"
DEMO_STAFF_PASSWORD = "kassa-demo-2026"  # noqa: S105 - a published demo credential


def demo_api_key() -> str:
    """The same test key on every run (derived from the secret key), so it can be printed."""
    digest = hmac.new(settings.SECRET_KEY.encode(), b"kassa-demo-api-key", hashlib.sha256).digest()
    alphabet = string.ascii_letters + string.digits
    body = "".join(alphabet[b % len(alphabet)] for b in digest)[:28]
    return f"sk_test_demo{body}"


def ensure_demo_organization() -> tuple[Organization, str]:
    """The demo organization, with its owner and its test key, created where missing; and the
    key's secret."""
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
    return org, secret
