"""What a payment pays for.

A purpose decides where the money lands in the ledger and what else changes when a payment
succeeds, closes without success, or is refunded; all of it inside the transaction that
changes the payment. Apps register their own (bookings, wallet top-ups, invoices)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kassa.core.errors import InvalidRequest
from kassa.ledger.services import AccountRef, account_id

if TYPE_CHECKING:
    from kassa.payments.models import Payment, Refund


class Purpose:
    key = "generic"
    #: Whether money paid for this purpose may go back to the customer.
    refundable = True

    def validate_new(self, payment: Payment) -> None:
        """Refuse a payment before the customer pays (e.g. an overpayment)."""

    def destination(self, payment: Payment) -> AccountRef:
        """The ledger account the paid amount is credited to."""
        return account_id(
            payment.organization_id,
            kind="payments_received",
            currency=payment.currency,
            name="Payments received",
            derived=True,
        )

    def lock(self, payment: Payment) -> None:
        """Lock the paid-for object before the ledger is touched (fixed lock order)."""

    def on_succeeded(self, payment: Payment) -> None:
        """Apply the value; called after the ledger posting, in the same transaction."""

    def on_closed(self, payment: Payment) -> None:
        """The payment failed, was canceled or expired."""

    def can_refund(self, payment: Payment, amount: int) -> bool:
        return self.refundable

    def on_refunded(self, payment: Payment, refund: Refund) -> None:
        """A refund succeeded (its ledger posting is done)."""


_purposes: dict[str, Purpose] = {}


def register(purpose: Purpose) -> Purpose:
    _purposes[purpose.key] = purpose
    return purpose


def purpose_of(key: str) -> Purpose:
    try:
        return _purposes[key]
    except KeyError:
        raise InvalidRequest(f"Unknown payment purpose {key!r}.", param="purpose") from None


GENERIC = register(Purpose())
