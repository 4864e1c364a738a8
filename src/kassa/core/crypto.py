"""Encryption at rest for secrets Kassa must be able to use again (gateway credentials,
webhook signing secrets). Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from
`SECRET_KEY`, so rotating SECRET_KEY requires re-entering those secrets."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class DecryptionFailed(Exception):
    pass


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"kassa-at-rest:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionFailed("the secret cannot be decrypted with this SECRET_KEY") from exc
