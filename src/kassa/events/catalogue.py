"""Every event type Kassa emits, with what it means. `emit` refuses any other type, the
docs and the OpenAPI schema are generated from this table."""

from __future__ import annotations

EVENT_TYPES: dict[str, str] = {
    "customer.created": "A customer was created.",
    "customer.updated": "A customer's details changed.",
    "ping": "A test event sent by POST /v1/webhook_endpoints/{id}/test.",
}


def register(event_type: str, description: str) -> None:
    """Apps add their own types at import time (payments, bookings, wallets...)."""
    EVENT_TYPES.setdefault(event_type, description)
