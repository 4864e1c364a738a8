"""The SMS channel: the notification's short text to the customer's E.164 number through the
configured provider (kassa.notifications.sms_providers)."""

from __future__ import annotations

import re

from kassa.core.validation import E164_RE
from kassa.notifications.channels import HardFailure, TransientFailure
from kassa.notifications.models import Notification
from kassa.notifications.rendering import Rendered
from kassa.notifications.sms_providers import configured


def normalise(number: str) -> str:
    return re.sub(r"[\s\-().]", "", number)


def send(notification: Notification, rendered: Rendered) -> None:
    number = normalise(notification.recipient)
    if not E164_RE.match(number):
        # Checked before any provider call: a number that is not E.164 can never be sent to.
        raise HardFailure(f"{notification.recipient!r} is not an E.164 phone number")
    provider = configured()
    if provider is None:
        raise TransientFailure("SMS is not configured (KASSA_SMS_URL)")
    external_id = provider.send(number, rendered.short, reference=notification.id)
    Notification.objects.filter(pk=notification.id).update(
        provider_message_id=f"{provider.name}:{external_id}"[:200]
    )
