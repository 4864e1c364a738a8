"""The registry of notification types. Apps register theirs from `AppConfig.ready()`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CHANNELS = ("email", "sms", "push", "webhook")
AUDIENCES = ("customer", "staff")


@dataclass(frozen=True)
class NotificationType:
    key: str
    label: str
    # A template path prefix: f"{template}_subject.txt", f"{template}.txt", f"{template}.html"
    # and optionally f"{template}_short.txt" (SMS and push).
    template: str
    audience: str = "customer"
    channels: tuple[str, ...] = ("email",)
    # Example context for the admin's template preview.
    sample: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


class UnknownNotificationType(LookupError):
    pass


_types: dict[str, NotificationType] = {}


def register(ntype: NotificationType) -> None:
    if ntype.audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, got {ntype.audience!r}")
    unknown = [c for c in ntype.channels if c not in CHANNELS]
    if unknown or not ntype.channels:
        raise ValueError(f"channels must be a non-empty subset of {CHANNELS}, got {ntype.channels}")
    if ntype.audience == "staff" and ntype.channels != ("email",):
        raise ValueError("staff notifications are sent by email only")
    _types[ntype.key] = ntype


def get_type(key: str) -> NotificationType:
    try:
        return _types[key]
    except KeyError:
        raise UnknownNotificationType(
            f"unknown notification type {key!r}; register it with register_type()"
        ) from None


def registered_types() -> list[NotificationType]:
    return sorted(_types.values(), key=lambda t: t.key)
