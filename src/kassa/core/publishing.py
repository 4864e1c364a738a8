"""Publishing events from the layers below the events app.

Core and customers change state that merchants subscribe to (`customer.created`), but they sit
below the events app and may not import it. They call `publish`, and the events app registers
the function that writes the event (its `emit`) from its `AppConfig.ready()`.

`publish` belongs inside the transaction of the change it reports: the publisher writes the
event row there (a transactional outbox), so the event commits or rolls back with the change.
Nothing is ever dropped: publishing with no publisher registered, or outside a transaction,
raises instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

# (organization id, event type, the object's public JSON form); the return value is ignored.
Publisher = Callable[[str, str, dict[str, Any]], object]

_publisher: Publisher | None = None


def register_publisher(publisher: Publisher) -> None:
    """Make `publisher` receive every published event. There is one event log, so a second,
    different publisher is a wiring mistake and is refused rather than silently replacing the
    first (registering the same one again, as a repeated `ready()` does, is harmless)."""
    global _publisher
    if _publisher is not None and _publisher is not publisher:
        raise RuntimeError(f"an event publisher is already registered: {_publisher!r}")
    _publisher = publisher


def publish(organization_id: str, event_type: str, obj: dict[str, Any]) -> None:
    """Record that `obj` (a public JSON form with an "id") changed, as an event of
    `event_type`, in the current transaction."""
    if _publisher is None:
        raise RuntimeError(
            f"cannot publish {event_type!r}: no event publisher is registered "
            "(the events app registers one when Django's apps are ready)"
        )
    if not transaction.get_connection().in_atomic_block:
        # Outside a transaction the event would commit on its own, whatever became of the
        # change it reports.
        raise RuntimeError(
            f"publish {event_type!r} inside the transaction of the change it reports"
        )
    _publisher(organization_id, event_type, obj)
