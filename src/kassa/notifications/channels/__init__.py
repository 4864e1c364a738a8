"""Delivery channels. Each sender takes a notification and its rendered text, sends it, and
raises `TransientFailure` (retry later), `HardFailure` (the address is bad) or `Refused`
(the provider will not take this message) on failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kassa.notifications.models import Notification
    from kassa.notifications.rendering import Rendered

Sender = Callable[["Notification", "Rendered"], None]


class DeliveryFailure(Exception):
    pass


class TransientFailure(DeliveryFailure):
    """Worth retrying: the provider is down, slow or rate-limiting."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HardFailure(DeliveryFailure):
    """The recipient cannot be reached at this address; retrying will not help."""


class Refused(DeliveryFailure):
    """The provider will not send this message as it is (a text its rules refuse, a country
    the account may not send to): retrying would not help, but the address is not at fault."""


def senders() -> dict[str, Sender]:
    """The sender of each channel that is available."""
    from kassa.notifications.channels import email, push, sms, webhook

    return {"email": email.send, "sms": sms.send, "push": push.send, "webhook": webhook.send}
