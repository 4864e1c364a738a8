"""The public JSON form of a customer: what the API returns and customer events carry."""

from __future__ import annotations

from typing import Any

from kassa.core.representations import iso
from kassa.customers.models import Customer


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
