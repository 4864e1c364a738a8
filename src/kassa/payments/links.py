"""Signed links to the hosted checkout of a payment."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from django.conf import settings
from django.core import signing

_SALT = "kassa.payments.checkout"
# Its own salt, so a timestamped token can never unsign as a deterministic one.
_STABLE_SALT = "kassa.payments.checkout.stable"


def _signer() -> signing.Signer:
    return signing.Signer(salt=_STABLE_SALT)


@lru_cache(maxsize=4)
def _token_hmac(secret: str) -> hmac.HMAC:
    # Django's Signer(salt).sign(value) is value + ":" + urlsafe-base64 (unpadded) of
    # HMAC-SHA256 keyed with sha256(salt + "signer" + secret); the derived key and the keyed
    # HMAC are computed once here (every payment shown builds a checkout URL).
    key = hashlib.sha256(f"{_STABLE_SALT}signer{secret}".encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def checkout_token(payment_id: str) -> str:
    # No timestamp: a payment's checkout URL is the same every time it is shown, and the
    # payment's own state (not the link's age) decides whether it can still be paid.
    mac = _token_hmac(settings.SECRET_KEY).copy()
    mac.update(payment_id.encode())
    signature = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
    return f"{payment_id}:{signature}"


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
