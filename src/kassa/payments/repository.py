"""The hot rows of payments: payments and the gateways' events, read and written on
PostgreSQL's fast path (`kassa.platform.fastdb`: single-row statements, prepared, deferred
writes) when it is active and through the ORM otherwise (SQLite, KASSA_DB_FASTPATH=0). Both
ways give the same model instances and send the same model signals. This module and the
gateways' own `repository.py` files are the only places in payments with SQL text."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Model

from kassa.payments.models import GatewayEvent, Payment
from kassa.platform import fastdb, rows


def get_payment(
    payment_id: str, organization_id: str | None = None, *, lock: bool = False
) -> Payment | None:
    """The payment (of this organization, when given), locked FOR UPDATE with `lock`."""
    if fastdb.active():
        if organization_id is None:
            return fastdb.get(Payment, "id = %s", [payment_id], lock=lock)
        return fastdb.get(
            Payment, "id = %s AND organization_id = %s", [payment_id, organization_id], lock=lock
        )
    found = Payment.objects.filter(pk=payment_id)
    if organization_id is not None:
        found = found.filter(organization_id=organization_id)
    return (found.select_for_update() if lock else found).first()


def get_owned[M: Model](model: type[M], object_id: str, organization_id: str) -> M | None:
    """An object of `model` (a payment, refund, gateway account or payment method) by id, if
    it belongs to the organization."""
    if fastdb.active():
        return fastdb.get(model, "id = %s AND organization_id = %s", [object_id, organization_id])
    return model._default_manager.filter(pk=object_id, organization_id=organization_id).first()


def insert_payment(payment: Payment) -> None:
    """A new payment, written with the transaction's next statement or its commit (a deferred
    write on the fast path)."""
    if fastdb.active():
        fastdb.insert(payment, defer=True)
    else:
        payment.save(force_insert=True)


def save_payment(payment: Payment, fields: Sequence[str]) -> None:
    """The named fields of a payment the caller holds locked (deferred on the fast path)."""
    if fastdb.active():
        fastdb.update(payment, fields, defer=True)
    else:
        payment.save(update_fields=list(fields))


def store_gateway_event(record: GatewayEvent) -> bool:
    """A gateway's event, unless the same one (provider and external id) is stored already;
    whether it was stored."""
    if fastdb.active():
        return fastdb.insert(record, skip_conflicts=True)
    return rows.insert_unless_duplicate(record)


def get_gateway_event(event_id: str) -> GatewayEvent | None:
    if fastdb.active():
        return fastdb.get(GatewayEvent, "id = %s", [event_id])
    return GatewayEvent.objects.filter(pk=event_id).first()


def save_gateway_event(record: GatewayEvent, fields: Sequence[str]) -> None:
    """The named fields of a stored event (deferred on the fast path)."""
    if fastdb.active():
        fastdb.update(record, fields, defer=True)
    else:
        record.save(update_fields=list(fields))
