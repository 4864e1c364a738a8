"""The web push channel: one notification goes to every live subscription of the customer.

A 404 or 410 from a push service means the browser dropped that subscription: it is revoked
and never used again. When none of the customer's subscriptions is left the send is a hard
failure (repeated, it pauses the channel for the customer until they subscribe again).
A success on any subscription makes the notification sent; if none succeeded and some failed
for a passing reason (429, 5xx, network) it is retried."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.utils import timezone

from kassa.core.urlcheck import public_addresses
from kassa.notifications import webpush
from kassa.notifications.channels import HardFailure, TransientFailure
from kassa.notifications.models import Notification, PushSubscription
from kassa.notifications.rendering import Rendered

GONE = {404, 410}


def payload(notification: Notification, rendered: Rendered) -> dict[str, str]:
    """What the service worker receives (it shows `title` and `body`)."""
    return {
        "id": notification.id,
        "type": notification.type,
        "title": rendered.subject,
        "body": rendered.short,
        "lang": notification.locale,
    }


def send(notification: Notification, rendered: Rendered) -> None:
    subscriptions = list(
        PushSubscription.objects.filter(
            customer_id=notification.customer_id, revoked_at__isnull=True
        ).order_by("created_at")
    )
    if not subscriptions:
        raise HardFailure("the customer has no live push subscription")
    body = payload(notification, rendered)
    delivered = 0
    transient: list[str] = []
    retry_after: float | None = None
    gone: list[str] = []
    for subscription in subscriptions:
        parts = urlsplit(subscription.endpoint)
        if not public_addresses(parts.hostname or "", parts.port or 443):
            # Checked again at send time: the name may point at a private address by now.
            transient.append(f"{parts.hostname} does not resolve to a public address now")
            continue
        try:
            result = webpush.send(
                subscription.endpoint, subscription.p256dh, subscription.auth, body
            )
        except webpush.PushError as exc:
            transient.append(str(exc))
            continue
        if 200 <= result.status < 300:
            delivered += 1
        elif result.status in GONE:
            gone.append(subscription.id)
        elif result.status == 429 or result.status >= 500:
            transient.append(f"push service answered {result.status}")
            if result.retry_after is not None:
                retry_after = max(retry_after or 0, result.retry_after)
        else:
            # 400 (bad request), 403 (VAPID key mismatch), 413 (too large): this subscription
            # cannot take our messages; it is revoked like a gone one.
            gone.append(subscription.id)
            transient.append(f"push service refused with {result.status}: {result.body[:200]}")
    if gone:
        PushSubscription.objects.filter(pk__in=gone).update(revoked_at=timezone.now())
    if delivered:
        return
    if transient and len(gone) < len(subscriptions):
        raise TransientFailure("; ".join(transient)[:1000], retry_after=retry_after)
    raise HardFailure(
        f"every push subscription of the customer is gone ({len(gone)} revoked)"
        + (f": {'; '.join(transient)[:500]}" if transient else "")
    )
