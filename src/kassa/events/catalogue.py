"""Every event type Kassa emits, with what it means. `emit` refuses any other type, the
docs and the OpenAPI schema are generated from this table."""

from __future__ import annotations

from kassa.core.errors import InvalidRequest

EVENT_TYPES: dict[str, str] = {
    "customer.created": "A customer was created.",
    "customer.updated": "A customer's details changed.",
    "ping": "A test event sent by POST /v1/webhook_endpoints/{id}/test.",
}


def register(event_type: str, description: str) -> None:
    """Apps add their own types at import time (payments, bookings, wallets...)."""
    EVENT_TYPES.setdefault(event_type, description)


class UnknownEventType(InvalidRequest):
    code = "unknown_event_type"
    default_message = "No such event type."


def known_type(event_type: str, *, param: str) -> str:
    """`event_type` when the catalogue has it; otherwise a 400 that lists every type."""
    if event_type not in EVENT_TYPES:
        raise UnknownEventType(
            f"Unknown event type {event_type!r}; the types are: {', '.join(sorted(EVENT_TYPES))}.",
            param=param,
        )
    return event_type
