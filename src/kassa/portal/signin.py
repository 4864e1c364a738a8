"""Signing in to the portal with a single-use link sent by email.

`request_link` looks the address up among customers (in every organization: a person may be a
customer of several merchants and gets one link for each), stores a request row and, for each
match, a token whose SHA-256 is kept; the link goes out through kassa.notifications in the
customer's language. The answer to the visitor is the same whether or not the address matched.
A link works once, for 15 minutes. Requests are rate-limited per address and per IP address.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from kassa.core.validation import SUPPORTED_LOCALES
from kassa.customers.models import Customer
from kassa.notifications.services import notify
from kassa.portal.models import SignInRequest

LINK_TTL = timedelta(minutes=15)
RATE_WINDOW = timedelta(minutes=15)
MAX_PER_EMAIL = 5
MAX_PER_IP = 20
MAX_ACCOUNTS_PER_EMAIL = 10


class TooManyRequests(Exception):
    """Too many sign-in links asked for; the visitor should wait."""


class LinkInvalid(Exception):
    """The link is unknown, used already or expired."""


@dataclass(frozen=True)
class SignedIn:
    customer_id: str
    organization_id: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _normalize(email: str) -> str:
    return email.strip().lower()


def check_rate(email: str, ip_address: str | None) -> None:
    since = timezone.now() - RATE_WINDOW
    recent = SignInRequest.objects.filter(created_at__gte=since)
    if recent.filter(email=email).count() >= MAX_PER_EMAIL:
        raise TooManyRequests
    if ip_address and recent.filter(ip_address=ip_address).count() >= MAX_PER_IP:
        raise TooManyRequests


def request_link(email: str, *, ip_address: str | None, page_locale: str) -> int:
    """Send a sign-in link to every customer with this address; return how many were sent.

    Raises TooManyRequests before storing anything when a limit is reached."""
    email = _normalize(email)
    now = timezone.now()
    with transaction.atomic():
        check_rate(email, ip_address)
        customers = list(
            Customer.objects.filter(email__iexact=email)
            .select_related("organization")
            .order_by("id")[:MAX_ACCOUNTS_PER_EMAIL]
        )
        if not customers:
            SignInRequest.objects.create(email=email, ip_address=ip_address, created_at=now)
            return 0
        for customer in customers:
            token = secrets.token_urlsafe(32)
            SignInRequest.objects.create(
                email=email,
                ip_address=ip_address,
                organization_id=customer.organization_id,
                customer=customer,
                token_hash=_hash(token),
                created_at=now,
                expires_at=now + LINK_TTL,
            )
            locale = customer.locale or (
                page_locale if page_locale in SUPPORTED_LOCALES else customer.organization.locale
            )
            notify(
                customer.organization_id,
                "portal.sign_in_link",
                # By address, not by customer: a sign-in link is not something a customer's
                # notification preferences may switch off.
                to_email=customer.email,
                locale=locale,
                context={
                    "link": f"{settings.KASSA_BASE_URL}/portal/sign-in/{token}",
                    "minutes": int(LINK_TTL.total_seconds() // 60),
                    "customer_name": customer.name,
                },
            )
        return len(customers)


def link_target(token: str) -> SignInRequest | None:
    """The request behind a still-valid link (for the confirmation page), or None."""
    found = (
        SignInRequest.objects.select_related("organization", "customer")
        .filter(token_hash=_hash(token), used_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    return found if found is not None and found.customer_id else None


def use_link(token: str) -> SignedIn:
    """Spend the link: it works once, and only before it expires."""
    now = timezone.now()
    with transaction.atomic():
        found = (
            SignInRequest.objects.select_for_update()
            .filter(token_hash=_hash(token), used_at__isnull=True, expires_at__gt=now)
            .first()
        )
        if found is None or not found.customer_id or not found.organization_id:
            raise LinkInvalid
        # A conditional update: of two simultaneous uses, exactly one changes the row.
        spent = SignInRequest.objects.filter(pk=found.pk, used_at__isnull=True).update(used_at=now)
        if spent != 1:
            raise LinkInvalid
        return SignedIn(customer_id=found.customer_id, organization_id=found.organization_id)
