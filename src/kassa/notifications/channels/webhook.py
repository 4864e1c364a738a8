"""The customer webhook channel: the notification as JSON to the customer's own callback URL,
signed per the Standard Webhooks spec like the merchant's webhook endpoints (headers
`webhook-id` = the notification id, stable across retries, `webhook-timestamp`,
`webhook-signature`) with the customer's own `whsec_` secret.

Only 2xx is success. 410 Gone disables the callback and counts as a hard failure; 429/503 with
`Retry-After` are retried no sooner than it says; other answers and network errors are retried
with the channel's backoff. The URL is checked again before each send (SSRF: a host name may
have been re-pointed at a private address since it was saved)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.utils import timezone
from standardwebhooks import Webhook

from kassa.core import crypto
from kassa.core.urlcheck import public_addresses
from kassa.notifications.channels import HardFailure, TransientFailure
from kassa.notifications.models import CustomerWebhook, Notification
from kassa.notifications.rendering import Rendered

TIMEOUT = 15.0


def body(notification: Notification, rendered: Rendered) -> dict[str, Any]:
    return {
        "id": notification.id,
        "type": notification.type,
        "created": notification.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "customer": notification.customer_id,
            "locale": notification.locale,
            "subject": rendered.subject,
            "text": rendered.text,
            "short": rendered.short,
            "context": notification.context,
        },
    }


def send(notification: Notification, rendered: Rendered) -> None:
    hook = CustomerWebhook.objects.filter(
        customer_id=notification.customer_id, disabled_at__isnull=True
    ).first()
    if hook is None or hook.url != notification.recipient:
        raise HardFailure("the customer's callback URL was removed or changed")
    parts = urlsplit(hook.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not public_addresses(parts.hostname or "", port):
        raise TransientFailure(f"{parts.hostname} does not resolve to a public address now")
    payload = json.dumps(body(notification, rendered), ensure_ascii=False, separators=(",", ":"))
    sent_at = datetime.now(UTC)
    signature = Webhook(crypto.decrypt(hook.secret)).sign(notification.id, sent_at, payload)
    headers = {
        "content-type": "application/json",
        "user-agent": "Kassa-Notifications/1",
        "webhook-id": notification.id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }
    try:
        response = httpx.post(
            hook.url,
            content=payload.encode(),
            headers=headers,
            timeout=TIMEOUT,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        raise TransientFailure(f"callback unreachable: {type(exc).__name__}: {exc}") from exc
    status = response.status_code
    if 200 <= status < 300:
        return
    head = response.text[:200]
    if status == 410:
        CustomerWebhook.objects.filter(pk=hook.pk).update(disabled_at=timezone.now())
        raise HardFailure(f"callback answered 410 Gone; disabled: {head}")
    retry_after = None
    raw = response.headers.get("Retry-After", "").strip()
    if status in {429, 503} and raw.isdigit():
        retry_after = float(raw)
    raise TransientFailure(f"callback answered {status}: {head}", retry_after=retry_after)
