"""Payment link tokens.

A token is 64 URL-safe characters. It is derived, not stored: HMAC-SHA512 under the server's
secret key over the link id and a 256-bit salt drawn from `secrets` when the link is made,
base64url-encoded and cut to 64 characters (384 bits). The database keeps the salt and the
token's SHA-256; the URL is looked up by that hash.

Why derived: a reminder reuses the active link and must write its URL into the email again,
yet a stolen database must not yield working links. With only the hash and the salt stored,
a link can be re-made by the server (which holds the secret key) and by nobody else.
Rotating the secret key keeps every emailed link working (lookups use the stored hash); links
whose token can no longer be re-made are replaced by a new link at the next reminder.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from django.conf import settings
from django.utils.crypto import salted_hmac

TOKEN_LENGTH = 64
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{64}$")
_KEY_SALT = "kassa.bookings.payment_link"


def new_salt() -> str:
    return secrets.token_hex(32)


def derive_token(link_id: str, salt: str) -> str:
    mac = salted_hmac(_KEY_SALT, f"{link_id}:{salt}", algorithm="sha512").digest()
    return base64.urlsafe_b64encode(mac).decode("ascii")[:TOKEN_LENGTH]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def is_well_formed(token: str) -> bool:
    return bool(TOKEN_RE.match(token))


def pay_url(token: str) -> str:
    return f"{settings.KASSA_BASE_URL}/pay/{token}"
