"""Writing events. `emit` is called inside the transaction of the change it records, so an
event exists if and only if the change committed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from kassa.core.representations import iso
from kassa.events.catalogue import EVENT_TYPES
from kassa.events.models import Event

# Called with each new event inside the same transaction (outbound webhooks subscribe here).
_listeners: list[Callable[[Event], None]] = []


def on_event(listener: Callable[[Event], None]) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def emit(organization_id: str, event_type: str, obj: dict[str, Any]) -> Event:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}; add it to the catalogue")
    with transaction.atomic():
        event = Event.objects.create(
            organization_id=organization_id,
            type=event_type,
            object_id=str(obj.get("id", ""))[:64],
            data={"object": obj},
        )
        for listener in _listeners:
            listener(event)
    return event


def event_dict(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "object": "event",
        "type": event.type,
        "created": iso(event.created_at),
        "data": event.data,
    }
