"""Webhook secrets and Standard Webhooks signatures.

A secret is `whsec_` + base64 of 24 random bytes, stored encrypted. During the 24 hours after a
rotation a delivery carries two signatures in `webhook-signature` (new first, then old), so a
receiver that still has the old secret keeps verifying while it is being updated.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from functools import lru_cache

from standardwebhooks import Webhook

from kassa.core.crypto import decrypt

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
ROTATION_OVERLAP_HOURS = 24


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


@lru_cache(maxsize=4096)
def _signer(secret_encrypted: str) -> Webhook:
    # Decrypting (Fernet) costs more than signing; a dispatcher signs many deliveries per
    # endpoint, so the signer is cached by the ciphertext (a rotation changes the ciphertext).
    return Webhook(decrypt(secret_encrypted))


def signature_header(
    *,
    msg_id: str,
    timestamp: datetime,
    body: str,
    secret_encrypted: str,
    previous_secret_encrypted: str = "",
    previous_expires_at: datetime | None = None,
    now: datetime | None = None,
) -> str:
    """The `webhook-signature` value: space-separated `v1,<base64>` signatures. `now` (the
    dispatcher's clock, default `timestamp`) decides whether the old secret still signs."""
    now = now or timestamp
    signatures = [_signer(secret_encrypted).sign(msg_id, timestamp, body)]
    if previous_secret_encrypted and previous_expires_at and previous_expires_at > now:
        signatures.append(_signer(previous_secret_encrypted).sign(msg_id, timestamp, body))
    return " ".join(signatures)
