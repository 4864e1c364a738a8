"""Web Push with VAPID (RFC 8030, RFC 8291 aes128gcm, RFC 8292 VAPID).

The server's VAPID key pair is made on first use (the first start's `kassa serve` asks for
it, see apps.py) and kept in the database, so every node signs with the key that browsers
subscribed with. `public_key()` is the `applicationServerKey` a page passes to
`pushManager.subscribe()`; `send()` encrypts a payload for one subscription and posts it to
its push service through pywebpush.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import IntegrityError, transaction

from kassa.core import crypto

# A push service keeps an undelivered message this long (seconds) for an offline browser.
DEFAULT_TTL = 24 * 3600
# Seconds to wait for the push service (connect and reply).
TIMEOUT = 15


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_key: str


def _generate() -> tuple[str, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    point = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return pem.decode(), b64url(point)


def keys() -> KeyPair:
    """The VAPID key pair, made and stored the first time it is asked for."""
    from kassa.notifications.models import VapidKey

    row = VapidKey.objects.filter(pk=1).first()
    if row is None:
        pem, public = _generate()
        try:
            with transaction.atomic():
                row = VapidKey.objects.create(
                    pk=1, private_key=crypto.encrypt(pem), public_key=public
                )
        except IntegrityError:
            # Another process made it first: theirs is the key.
            row = VapidKey.objects.get(pk=1)
    return KeyPair(private_pem=crypto.decrypt(row.private_key).encode(), public_key=row.public_key)


def public_key() -> str:
    """The application server key: the uncompressed P-256 point, URL-safe base64."""
    return keys().public_key


def subject() -> str:
    """The VAPID `sub` claim: how a push service operator can reach us."""
    configured: str = getattr(settings, "KASSA_VAPID_SUBJECT", "") or ""
    if configured:
        return configured
    host = urlsplit(settings.KASSA_BASE_URL).hostname or "localhost"
    if urlsplit(settings.KASSA_BASE_URL).scheme == "https":
        return settings.KASSA_BASE_URL
    return f"mailto:kassa@{host}"


@dataclass(frozen=True)
class PushResult:
    status: int
    body: str
    retry_after: float | None


class PushError(Exception):
    """The push service could not be reached (network, timeout)."""


def send(
    endpoint: str, p256dh: str, auth: str, payload: dict[str, Any], *, ttl: int = DEFAULT_TTL
) -> PushResult:
    """Encrypt `payload` (JSON) for one subscription and post it; the push service's answer."""
    import requests
    from py_vapid import Vapid
    from pywebpush import WebPushException, webpush

    pair = keys()
    vapid = Vapid.from_pem(pair.private_pem)
    parts = urlsplit(endpoint)
    claims = {"sub": subject(), "aud": f"{parts.scheme}://{parts.netloc}"}
    try:
        response = webpush(
            subscription_info={"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}},
            data=json.dumps(payload, ensure_ascii=False),
            vapid_private_key=vapid,
            vapid_claims=claims,
            content_encoding="aes128gcm",
            ttl=ttl,
            timeout=TIMEOUT,
        )
    except WebPushException as exc:
        response = exc.response
        if response is None:
            raise PushError(str(exc)) from exc
    except requests.RequestException as exc:
        raise PushError(f"{type(exc).__name__}: {exc}") from exc
    retry_after = None
    raw = response.headers.get("Retry-After")
    if raw and raw.strip().isdigit():
        retry_after = float(raw.strip())
    return PushResult(
        status=response.status_code, body=response.text[:500], retry_after=retry_after
    )
