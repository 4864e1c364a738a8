"""Prefixed, time-ordered public ids (`pay_01jd8...`).

An id is a prefix, an underscore and 26 characters of lowercase Crockford base32 that encode
48 bits of milliseconds since the epoch followed by 80 random bits (the ULID layout). Because
the width is fixed and the alphabet sorts the same in every collation, ordering by id is
ordering by creation time, which is what cursor pagination relies on.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from typing import Any

from django.db import models
from django.utils.deconstruct import deconstructible

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_BODY_RE = re.compile(r"^[0-9a-hjkmnp-tv-z]{26}$")
ID_MAX_LENGTH = 40


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


_last_value = 0
_lock = threading.Lock()


def new_id(prefix: str) -> str:
    """A new id. Within one process ids are strictly increasing: in the same millisecond (or if
    the clock steps back) the previous value plus one is used, as ULID's monotonic mode does,
    so that objects created one after the other sort in that order."""
    global _last_value
    millis = time.time_ns() // 1_000_000
    with _lock:
        value = (millis << 80) | secrets.randbits(80)
        if value <= _last_value:
            value = _last_value + 1
        _last_value = value
    return f"{prefix}_{_encode(value)}"


def is_valid_id(value: object, prefix: str) -> bool:
    if not isinstance(value, str) or not value.startswith(prefix + "_"):
        return False
    return bool(_BODY_RE.match(value[len(prefix) + 1 :]))


@deconstructible
class IdFactory:
    """A migration-serializable default that mints a new id with a fixed prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self) -> str:
        return new_id(self.prefix)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdFactory) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)


class PrefixedIdField(models.CharField[str, str]):
    """Primary key holding a prefixed id; the id exists as soon as the object is built."""

    def __init__(self, prefix: str = "", *args: Any, **kwargs: Any) -> None:
        self.prefix = prefix
        kwargs.setdefault("max_length", ID_MAX_LENGTH)
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("editable", False)
        if prefix:
            kwargs["default"] = IdFactory(prefix)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("default", None)
        kwargs["prefix"] = self.prefix
        return name, path, args, kwargs
