"""The public JSON form of bookings, payment links and reminders (API and events)."""

from __future__ import annotations

from typing import Any

from kassa.bookings import clock
from kassa.bookings.models import Booking, PaymentLink, Reminder
from kassa.bookings.tokens import derive_token, hash_token, pay_url
from kassa.core.representations import iso


def booking_dict(booking: Booking) -> dict[str, Any]:
    paid = booking.paid_amount
    return {
        "id": booking.id,
        "object": "booking",
        "livemode": booking.livemode,
        "customer": booking.customer_id,
        "reference": booking.reference,
        "service_date": booking.service_date.isoformat(),
        "service_time": booking.service_time.strftime("%H:%M") if booking.service_time else None,
        "description": booking.description or None,
        "total_amount": booking.total_amount,
        "currency": booking.currency,
        "deposit_paid": booking.deposit_amount,
        "paid_amount": paid,
        "balance_due": max(booking.total_amount - paid, 0),
        "overpaid_amount": max(paid - booking.total_amount, 0),
        "status": booking.status,
        "metadata": booking.metadata,
        "created": iso(booking.created_at),
        "paid_at": iso(booking.paid_at),
        "cancelled_at": iso(booking.cancelled_at),
    }


def link_url(link: PaymentLink) -> str | None:
    """The link's URL, re-made from its salt; None if the secret key changed since."""
    token = derive_token(link.id, link.token_salt)
    return pay_url(token) if hash_token(token) == link.token_hash else None


def link_dict(link: PaymentLink, booking: Booking | None = None) -> dict[str, Any]:
    booking = booking or link.booking
    state = link.state(clock.now())
    due = booking.balance_due
    amount = min(link.amount, due) if link.amount is not None else due
    return {
        "id": link.id,
        "object": "payment_link",
        "booking": link.booking_id,
        # What the customer would pay now: the installment, never more than the balance due.
        "amount": amount,
        "installment": link.amount,
        "currency": link.currency,
        "status": state,
        # Only an active link has a usable URL; a dead one is not handed out again.
        "url": link_url(link) if state == "active" else None,
        "expires_at": iso(link.expires_at),
        "payment": link.payment_id,
        "created": iso(link.created_at),
        "used_at": iso(link.used_at),
        "invalidated_at": iso(link.invalidated_at),
    }


def reminder_dict(reminder: Reminder) -> dict[str, Any]:
    return {
        "id": reminder.public_id,
        "object": "reminder",
        "booking": reminder.booking_id,
        "kind": reminder.kind,
        "threshold_days": reminder.threshold_days,
        "urgency": reminder.urgency,
        "status": reminder.status,
        "payment_link": reminder.payment_link_id,
        "notification": reminder.notification_id or None,
        "due_at": iso(reminder.due_at),
        "sent_at": iso(reminder.sent_at),
    }
