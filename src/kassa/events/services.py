"""Writing events. `emit` is called inside the transaction of the change it records, so an
event exists if and only if the change committed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from kassa.events.catalogue import EVENT_TYPES
from kassa.events.models import Event
from kassa.events.repository import insert_event

# Called with each new event inside the same transaction (outbound webhooks subscribe here).
_listeners: list[Callable[[Event], None]] = []


def on_event(listener: Callable[[Event], None]) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def emit(organization_id: str, event_type: str, obj: dict[str, Any]) -> Event:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}; add it to the catalogue")
    # Part of the caller's transaction when there is one (no savepoint: a failure here must
    # undo the change the event reports anyway).
    with transaction.atomic(savepoint=False):
        event = Event(
            organization_id=organization_id,
            type=event_type,
            object_id=str(obj.get("id", ""))[:64],
            data={"object": obj},
        )
        insert_event(event)
        for listener in _listeners:
            listener(event)
    return event


def prune_events(now: datetime | None = None, *, chunk: int = 1000) -> int:
    """Delete events older than the retention (KASSA_EVENT_RETENTION_DAYS) with their webhook
    deliveries and attempts, in chunks so no transaction grows large; return how many.
    A run that was missed catches up: it deletes everything past the cutoff."""
    from kassa.events.models import WebhookAttempt, WebhookDelivery

    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.KASSA_EVENT_RETENTION_DAYS)
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                Event.objects.filter(created_at__lt=cutoff)
                .order_by("created_at")
                .values_list("id", flat=True)[:chunk]
            )
            if not ids:
                return deleted
            WebhookAttempt.objects.filter(delivery__event_id__in=ids).delete()
            WebhookDelivery.objects.filter(event_id__in=ids).delete()
            Event.objects.filter(id__in=ids).delete()
        deleted += len(ids)
