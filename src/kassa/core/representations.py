"""The public JSON form of core objects: what the API returns and events carry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kassa.core.models import Customer


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, the only time format the API speaks."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def customer_dict(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "object": "customer",
        "email": customer.email or None,
        "name": customer.name or None,
        "phone": customer.phone or None,
        "locale": customer.locale or None,
        "metadata": customer.metadata,
        "created": iso(customer.created_at),
    }
