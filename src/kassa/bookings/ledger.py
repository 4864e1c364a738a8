"""The ledger side of bookings.

Each booking has one account (kind "booking", owner the booking id, never below zero). Money
for the booking lands there: the deposit received outside Kassa (from the `manual` clearing
account, as payments received outside a gateway are booked) and every successful payment
(from its gateway's clearing account, posted by the payments app). A refund takes money out
of it. Its balance is what the customer has paid.
"""

from __future__ import annotations

from kassa.bookings.models import BOOKING_ACCOUNT_KIND, Booking
from kassa.ledger import services as ledger
from kassa.ledger.models import LedgerAccount


def booking_account(booking: Booking) -> LedgerAccount:
    return ledger.get_or_create_account(
        booking.organization_id,
        kind=BOOKING_ACCOUNT_KIND,
        owner_id=booking.id,
        currency=booking.currency,
        name=f"Booking {booking.reference}"[:200],
        min_balance=0,
    )


def manual_clearing(booking: Booking) -> LedgerAccount:
    # The same account payments use for money received outside a gateway.
    return ledger.get_or_create_account(
        booking.organization_id,
        kind="gateway_clearing",
        owner_id="manual",
        currency=booking.currency,
        name="Clearing manual",
        derived=True,
    )


def post_deposit(booking: Booking) -> None:
    ledger.post(
        booking.organization_id,
        ledger.transfer(
            kind="booking_deposit",
            idempotency_key=f"{booking.id}:deposit",
            source=manual_clearing(booking),
            destination=booking_account(booking),
            amount=booking.deposit_amount,
            reference=booking.id,
            description=f"Deposit for booking {booking.reference}"[:200],
        ),
    )
