"""Signed links to the hosted checkout of a payment."""

from __future__ import annotations

from django.conf import settings
from django.core import signing

_SALT = "kassa.payments.checkout"


def checkout_token(payment_id: str) -> str:
    return signing.dumps(payment_id, salt=_SALT, compress=False)


def payment_id_from_token(token: str) -> str | None:
    try:
        value = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, str) else None


def checkout_url(payment_id: str) -> str:
    return f"{settings.KASSA_BASE_URL}/checkout/{checkout_token(payment_id)}"


def return_url(payment_id: str) -> str:
    return f"{checkout_url(payment_id)}/return"
