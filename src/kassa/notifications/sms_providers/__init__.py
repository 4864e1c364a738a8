"""SMS providers behind one interface, chosen by KASSA_SMS_URL (see kassa.config.SmsConfig).

A provider sends one text to one E.164 number and returns its message id, or raises one of
the channel failures: `TransientFailure` (retry later: network, 429, 5xx, credentials),
`HardFailure` (the number cannot receive: invalid, not a mobile, opted out) or `Refused`
(this message cannot be sent as it is; retrying or pausing would not help)."""

from __future__ import annotations

from typing import Protocol

from django.conf import settings

from kassa.config import SmsConfig

# Seconds to wait for a provider (connect and reply).
TIMEOUT = 15.0


class SmsProvider(Protocol):
    name: str

    def send(self, to: str, text: str, *, reference: str) -> str:
        """Send `text` to `to` (E.164); `reference` is our notification id. The provider's id."""
        ...


def provider_for(config: SmsConfig) -> SmsProvider:
    if config.provider == "eskiz":
        from kassa.notifications.sms_providers.eskiz import Eskiz

        return Eskiz(config)
    if config.provider == "twilio":
        from kassa.notifications.sms_providers.twilio import Twilio

        return Twilio(config)
    raise ValueError(f"unknown SMS provider {config.provider!r}")


def configured() -> SmsProvider | None:
    """The provider KASSA_SMS_URL names, or None when SMS is not set up."""
    config: SmsConfig | None = getattr(settings, "KASSA_SMS", None)
    return provider_for(config) if config is not None else None
