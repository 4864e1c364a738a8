"""The customer emails of bookings (reminders, receipts, paid in full), sent through the
notifications system: stored and enqueued in the transaction that causes them."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from kassa.bookings.models import Booking, PaymentLink, Reminder
from kassa.notifications.models import Notification
from kassa.notifications.services import notify, register_type
from kassa.payments.models import Payment

REMINDER = "booking.reminder"
RECEIPT = "booking.receipt"
PAID_IN_FULL = "booking.paid_in_full"


def register_types() -> None:
    register_type(
        REMINDER, label=str(_("Booking balance reminder")), template="bookings/email/reminder"
    )
    register_type(
        RECEIPT, label=str(_("Booking payment receipt")), template="bookings/email/receipt"
    )
    register_type(
        PAID_IN_FULL, label=str(_("Booking paid in full")), template="bookings/email/paid_in_full"
    )


def _booking_context(booking: Booking) -> dict[str, Any]:
    paid = booking.paid_amount
    return {
        "booking": booking.id,
        "reference": booking.reference,
        "description": booking.description,
        "service_date": booking.service_date.isoformat(),
        "currency": booking.currency,
        "total": booking.total_amount,
        "paid": paid,
        "balance": max(booking.total_amount - paid, 0),
    }


def queue_reminder(
    booking: Booking, reminder: Reminder, link: PaymentLink, days_left: int
) -> Notification | None:
    rows = notify(
        booking.organization_id,
        REMINDER,
        customer_id=booking.customer_id,
        context={
            **_booking_context(booking),
            "link": link.id,
            "urgency": reminder.urgency,
            "days_left": days_left,
        },
        dedupe_key=f"reminder:{reminder.pk}",
    )
    return rows[0] if rows else None


def queue_receipt(booking: Booking, payment: Payment, *, paid_in_full: bool) -> None:
    context = {**_booking_context(booking), "payment": payment.id, "amount": payment.amount}
    notify(
        booking.organization_id,
        RECEIPT,
        customer_id=booking.customer_id,
        context=context,
        dedupe_key=f"receipt:{payment.id}",
    )
    if paid_in_full:
        notify(
            booking.organization_id,
            PAID_IN_FULL,
            customer_id=booking.customer_id,
            context=context,
            dedupe_key=f"paid:{booking.id}:{payment.id}",
        )
