"""Refusals of the bookings domain, each with its HTTP status and stable code."""

from __future__ import annotations

from kassa.core.errors import InvalidRequest, KassaError, StateConflict


class BookingReferenceTaken(StateConflict):
    code = "booking_reference_taken"
    default_message = "This organization already has a booking with this reference."


class DepositTooHigh(InvalidRequest):
    code = "deposit_exceeds_total"
    default_message = "The deposit cannot be more than the total amount."


class AmountExceedsBalanceDue(InvalidRequest):
    """Refused before the customer pays, so a booking is never overpaid through Kassa."""

    code = "amount_exceeds_balance_due"
    default_message = "The amount is more than the balance due."


class BookingCancelled(StateConflict):
    code = "booking_cancelled"
    default_message = "This booking is cancelled."


class BookingAlreadyPaid(StateConflict):
    code = "booking_already_paid"
    default_message = "This booking is paid in full."


class ServiceDatePassed(StateConflict):
    code = "service_date_passed"
    default_message = "The service date of this booking has passed."


class PaymentLinkGone(KassaError):
    status = 410
    code = "payment_link_gone"
    default_message = "This payment link can no longer be used."


class PaymentLinkExpired(PaymentLinkGone):
    code = "payment_link_expired"
    default_message = "This payment link has expired."


class PaymentLinkInvalidated(PaymentLinkGone):
    code = "payment_link_invalidated"
    default_message = "This payment link was invalidated."


class PaymentLinkUsed(PaymentLinkGone):
    code = "payment_link_used"
    default_message = "This payment link was already used."


class PaymentInProgress(StateConflict):
    code = "payment_in_progress"
    default_message = "A payment through this link is being processed."
