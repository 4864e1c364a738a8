"""The event types bookings emit (see docs/bookings.md)."""

from kassa.events.catalogue import register

register("booking.created", "A booking was created (with its deposit, if any, in the ledger).")
register("booking.partially_paid", "A payment for the booking arrived; a balance is still due.")
register("booking.paid", "The booking is paid in full.")
register("booking.cancelled", "The booking was cancelled; its links stopped working.")
register("payment_link.created", "A single-use payment link was made for a booking.")
register("payment_link.used", "A payment through the link succeeded; the link is used up.")
register("reminder.sent", "A balance reminder was queued for the customer, with a valid link.")
