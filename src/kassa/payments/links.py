"""Signed links to the hosted checkout of a payment."""

from __future__ import annotations

from django.conf import settings
from django.core import signing

_SALT = "kassa.payments.checkout"
# Its own salt, so a timestamped token can never unsign as a deterministic one.
_STABLE_SALT = "kassa.payments.checkout.stable"


def _signer() -> signing.Signer:
    return signing.Signer(salt=_STABLE_SALT)


def checkout_token(payment_id: str) -> str:
    # No timestamp: a payment's checkout URL is the same every time it is shown, and the
    # payment's own state (not the link's age) decides whether it can still be paid.
    return _signer().sign(payment_id)


def payment_id_from_token(token: str) -> str | None:
    try:
        return _signer().unsign(token)
    except signing.BadSignature:
        pass
    try:
        # Links issued before checkout tokens became deterministic carried a timestamp.
        value = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, str) else None


def checkout_url(payment_id: str) -> str:
    return f"{settings.KASSA_BASE_URL}/checkout/{checkout_token(payment_id)}"


def return_url(payment_id: str) -> str:
    return f"{checkout_url(payment_id)}/return"
