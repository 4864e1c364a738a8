"""The "booking" payment purpose: money for a booking lands in the booking's ledger account,
and the booking is updated in the transaction that records the payment's success."""

from __future__ import annotations

from kassa.bookings.errors import AmountExceedsBalanceDue, BookingAlreadyPaid, BookingCancelled
from kassa.bookings.ledger import booking_account
from kassa.bookings.models import Booking
from kassa.core.errors import InvalidRequest, ResourceMissing
from kassa.ledger.models import LedgerAccount
from kassa.payments.models import Payment
from kassa.payments.purposes import Purpose, register


def _booking(payment: Payment, *, lock: bool) -> Booking:
    queryset = Booking.objects.filter(
        organization_id=payment.organization_id, pk=payment.purpose_id
    )
    if lock:
        queryset = queryset.select_for_update()
    booking = queryset.first()
    if booking is None:
        raise ResourceMissing(f"No such booking: {payment.purpose_id!r}.", param="booking")
    return booking


class BookingPurpose(Purpose):
    key = "booking"

    def validate_new(self, payment: Payment) -> None:
        """Overpayment is refused here, before the customer is sent to pay."""
        booking = _booking(payment, lock=True)
        if booking.cancelled_at is not None:
            raise BookingCancelled()
        if payment.currency != booking.currency:
            raise InvalidRequest(f"This booking is paid in {booking.currency}.", param="currency")
        due = booking.balance_due
        if due <= 0:
            raise BookingAlreadyPaid()
        if payment.amount > due:
            raise AmountExceedsBalanceDue(
                f"{payment.amount} is more than the balance due ({due}).", param="amount"
            )

    def destination(self, payment: Payment) -> LedgerAccount:
        return booking_account(_booking(payment, lock=False))

    def lock(self, payment: Payment) -> None:
        _booking(payment, lock=True)

    def on_succeeded(self, payment: Payment) -> None:
        from kassa.bookings.services import record_payment

        record_payment(_booking(payment, lock=True), payment)


BOOKING = register(BookingPurpose())
