"""Every write to customers.

Services own `transaction.atomic`; callers (API, admin, CLI, demo) never write customers. Each
write publishes its event (`customer.created`, `customer.updated`) in the same transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from kassa.core import audit
from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.core.publishing import publish
from kassa.core.validation import (
    validate_email,
    validate_locale,
    validate_metadata,
    validate_phone,
)
from kassa.customers.models import Customer
from kassa.customers.representations import customer_dict


def _customer_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if data.get("email") is not None:
        fields["email"] = validate_email(data["email"]) if data["email"] else ""
    if data.get("name") is not None:
        fields["name"] = str(data["name"]).strip()[:200]
    if data.get("phone") is not None:
        fields["phone"] = validate_phone(data["phone"]) if data["phone"] else ""
    if data.get("locale") is not None:
        fields["locale"] = validate_locale(data["locale"]) if data["locale"] else ""
    if "metadata" in data and data["metadata"] is not None:
        fields["metadata"] = validate_metadata(data["metadata"])
    return fields


def create_customer(organization: Organization, data: dict[str, Any]) -> Customer:
    customer = Customer(organization=organization, **_customer_fields(data))
    with transaction.atomic():
        customer.save()
        publish(organization.id, "customer.created", customer_dict(customer))
    return customer


def update_customer(
    customer: Customer, data: dict[str, Any], *, actor: Actor | None = None
) -> Customer:
    """Apply a partial update; staff edits (an `actor` is given) are audited."""
    fields = _customer_fields(data)
    if "metadata" in fields:
        # Stripe semantics: keys set to "" are removed, other keys are merged.
        merged = {**customer.metadata, **fields["metadata"]}
        fields["metadata"] = {k: v for k, v in merged.items() if v != ""}
    fields = {k: v for k, v in fields.items() if getattr(customer, k) != v}
    before = {name: getattr(customer, name) for name in fields}
    with transaction.atomic():
        for name, value in fields.items():
            setattr(customer, name, value)
        customer.save(update_fields=[*fields.keys()] or None)
        publish(customer.organization_id, "customer.updated", customer_dict(customer))
        if actor is not None:
            audit.record(
                actor=actor,
                action="customer.updated",
                organization_id=customer.organization_id,
                obj=customer,
                before=before,
                after={name: getattr(customer, name) for name in fields},
            )
    return customer
