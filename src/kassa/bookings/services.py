"""Bookings: creation (with a deposit posted to the ledger), cancellation, and what happens
when money for a booking arrives. Every write runs in one transaction with its events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction

from kassa.bookings import clock
from kassa.bookings.errors import BookingReferenceTaken, DepositTooHigh
from kassa.bookings.ledger import post_deposit
from kassa.bookings.models import Booking, PaymentLink
from kassa.bookings.representations import booking_dict, link_dict
from kassa.core import audit
from kassa.core.actors import Actor
from kassa.core.errors import InvalidRequest, ResourceMissing
from kassa.core.models import Organization
from kassa.core.money import normalize_currency, validate_amount
from kassa.core.validation import validate_date, validate_metadata
from kassa.customers.models import Customer
from kassa.events.services import emit
from kassa.payments.models import Payment

MAX_REFERENCE = 100


def _parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise InvalidRequest("service_date is a date (YYYY-MM-DD).", param="service_date")
    if not isinstance(value, dt.date):
        try:
            value = dt.date.fromisoformat(str(value))
        except ValueError:
            raise InvalidRequest(
                "service_date must be a date in the form YYYY-MM-DD.", param="service_date"
            ) from None
    return validate_date(value, "service_date")


def _parse_time(value: Any) -> dt.time | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise InvalidRequest(
            "service_time must be a time in the form HH:MM.", param="service_time"
        ) from None


def create_booking(
    organization: Organization,
    *,
    customer_id: str,
    reference: str,
    service_date: Any,
    total_amount: Any,
    currency: Any,
    livemode: bool,
    service_time: Any = None,
    description: str = "",
    deposit_paid: Any = None,
    metadata: Any = None,
) -> Booking:
    currency = normalize_currency(currency)
    total = validate_amount(total_amount, currency, param="total_amount")
    deposit = (
        0
        if deposit_paid is None
        else validate_amount(deposit_paid, currency, param="deposit_paid", allow_zero=True)
    )
    if deposit > total:
        raise DepositTooHigh(
            f"The deposit ({deposit}) is more than the total amount ({total}).",
            param="deposit_paid",
        )
    reference = str(reference or "").strip()
    if not reference or len(reference) > MAX_REFERENCE:
        raise InvalidRequest(
            f"reference must be 1 to {MAX_REFERENCE} characters.", param="reference"
        )
    day = _parse_date(service_date)
    time = _parse_time(service_time)
    metadata = validate_metadata(metadata)
    customer = Customer.objects.filter(organization=organization, pk=customer_id).first()
    if customer is None:
        raise ResourceMissing(f"No such customer: {customer_id!r}.", param="customer")
    now = clock.now()
    booking = Booking(
        organization=organization,
        livemode=livemode,
        customer=customer,
        reference=reference,
        service_date=day,
        service_time=time,
        description=str(description or "")[:500],
        total_amount=total,
        currency=currency,
        deposit_amount=deposit,
        metadata=metadata,
        created_at=now,
        updated_at=now,
        paid_at=now if deposit >= total else None,
    )
    with transaction.atomic():
        try:
            with transaction.atomic():
                booking.save(force_insert=True)
        except IntegrityError:
            raise BookingReferenceTaken(
                f"A booking with reference {reference!r} already exists.", param="reference"
            ) from None
        if deposit:
            post_deposit(booking)
        data = booking_dict(booking)
        emit(organization.id, "booking.created", data)
        if booking.paid_at is not None:
            emit(organization.id, "booking.paid", data)
    return booking


def cancel_booking(booking: Booking, *, actor: Actor, reason: str = "") -> Booking:
    """Cancel a booking: its links stop working and it gets no more reminders. Money already
    paid stays on the booking until it is refunded (refunds go through the payments)."""
    from kassa.bookings.links import invalidate_locked

    with transaction.atomic():
        locked = Booking.objects.select_for_update().get(pk=booking.pk)
        if locked.cancelled_at is not None:
            return locked
        now = clock.now()
        locked.cancelled_at = now
        locked.cancellation_reason = (reason or "")[:500]
        locked.updated_at = now
        locked.save(update_fields=["cancelled_at", "cancellation_reason", "updated_at"])
        for link in PaymentLink.objects.select_for_update().filter(
            booking=locked, status=PaymentLink.Status.ACTIVE
        ):
            invalidate_locked(link, "booking cancelled")
        emit(locked.organization_id, "booking.cancelled", booking_dict(locked))
        audit.record(
            actor=actor,
            action="booking.cancelled",
            organization_id=locked.organization_id,
            obj=locked,
            reason=reason,
            after={"status": "cancelled"},
        )
    return locked


def record_payment(booking: Booking, payment: Payment) -> None:
    """A payment for the booking succeeded; its ledger posting is done in this transaction.

    The link it was made through is used up, the booking's events are written and the
    customer's receipt (and, when the balance reaches zero, the paid-in-full email) queued."""
    from kassa.bookings import notifications

    now = clock.now()
    booking.forget_amounts()
    paid = booking.paid_amount
    before = paid - payment.amount
    link = (
        PaymentLink.objects.select_for_update()
        .filter(booking=booking, payment=payment, status=PaymentLink.Status.ACTIVE)
        .first()
    )
    if link is not None:
        link.status = PaymentLink.Status.USED
        link.used_at = now
        link.save(update_fields=["status", "used_at"])
        emit(booking.organization_id, "payment_link.used", link_dict(link, booking))
    fully_paid_now = paid >= booking.total_amount > before
    fields = ["updated_at"]
    booking.updated_at = now
    if fully_paid_now:
        booking.paid_at = now
        fields.append("paid_at")
    booking.save(update_fields=fields)
    data = booking_dict(booking)
    if booking.cancelled_at is None:
        if paid < booking.total_amount:
            emit(booking.organization_id, "booking.partially_paid", data)
        elif fully_paid_now:
            emit(booking.organization_id, "booking.paid", data)
    notifications.queue_receipt(booking, payment, paid_in_full=fully_paid_now)
