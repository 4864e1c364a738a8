"""The public JSON form of notifications and customer webhooks (what the API returns)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kassa.notifications.models import CustomerWebhook, Notification


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def notification_dict(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "notification",
        "type": row.type,
        "channel": row.channel,
        "customer": row.customer_id,
        "recipient": row.recipient,
        "locale": row.locale,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error or None,
        "created": _iso(row.created_at),
        "last_attempt": _iso(row.last_attempt_at),
        "next_attempt": _iso(row.next_attempt_at),
        "sent": _iso(row.sent_at),
    }


def webhook_dict(hook: CustomerWebhook, secret: str | None = None) -> dict[str, Any]:
    return {
        "id": hook.id,
        "object": "customer_webhook",
        "customer": hook.customer_id,
        "url": hook.url,
        "status": "disabled" if hook.disabled_at else "enabled",
        "secret": secret,
        "created": _iso(hook.created_at),
    }
