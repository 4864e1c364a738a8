"""Demo data: a booking with a balance due and a working pay link, so a person can pay it
with the sandbox card (`kassa demo` prints the link).

`kassa demo --reset` makes the demo payable again without touching the books: while the demo
booking has had no payment, it gets a fresh link (the old one stops working); once money was
paid on it, a new demo booking follows it (DEMO-SAMARKAND-2, -3, ...). A paid booking is
history in the ledger, which is append-only, so it is never deleted or set back to unpaid
(docs/decisions/035-first-hour-development-defaults.md). The demo booking is the newest one
whose reference is DEMO-SAMARKAND or DEMO-SAMARKAND-<n>."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q, QuerySet

from kassa.bookings import clock, links, services
from kassa.bookings.errors import BookingReferenceTaken
from kassa.bookings.models import Booking, PaymentLink
from kassa.bookings.tokens import pay_url
from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.customers import demo
from kassa.customers.models import Customer

DEMO_REFERENCE = "DEMO-SAMARKAND"
DEMO_CUSTOMER = "dilnoza@example.com"
TOTAL = 450_000_000
DEPOSIT = 100_000_000


def demo_bookings(organization: Organization) -> QuerySet[Booking]:
    return Booking.objects.filter(organization=organization).filter(
        Q(reference=DEMO_REFERENCE) | Q(reference__startswith=f"{DEMO_REFERENCE}-")
    )


def current(organization: Organization) -> Booking | None:
    """The demo booking: the newest of them (ids are time-ordered)."""
    return demo_bookings(organization).order_by("-id").first()


def _create(organization: Organization, customers: dict[str, Customer], reference: str) -> Booking:
    customer = customers.get(DEMO_CUSTOMER) or next(iter(customers.values()))
    return services.create_booking(
        organization,
        customer_id=customer.id,
        reference=reference,
        service_date=clock.local_today(organization.timezone) + timedelta(days=30),
        service_time="08:00",
        description="Samarkand and Bukhara, 3 days",
        total_amount=TOTAL,
        currency="UZS",
        deposit_paid=DEPOSIT,
        livemode=False,
    )


def _payable(booking: Booking) -> bool:
    return (
        booking.cancelled_at is None
        and booking.balance_due > 0
        and links.deadline(booking) > clock.now()
    )


def reset(organization: Organization, customers: dict[str, Customer]) -> None:
    """Make the demo booking payable again with a fresh link (see the module docstring)."""
    actor = Actor.system("demo")
    booking = current(organization)
    if booking is None:
        return  # `load` creates the first one
    if _payable(booking) and booking.paid_amount == booking.deposit_amount:
        links.create_link(booking, actor=actor)  # the active link, if any, is invalidated
        return
    if booking.cancelled_at is None and booking.balance_due > 0:
        # Partly paid through the demo, or its service date has come: it gets no more
        # reminders. The money stays on it, as on any cancelled booking.
        services.cancel_booking(booking, actor=actor, reason="replaced by kassa demo --reset")
    generation = demo_bookings(organization).count() + 1
    while True:
        try:
            _create(organization, customers, f"{DEMO_REFERENCE}-{generation}")
            return
        except BookingReferenceTaken:
            generation += 1


def load(organization: Organization, customers: dict[str, Customer]) -> dict[str, str]:
    actor = Actor.system("demo")
    booking = current(organization)
    if booking is None:
        booking = _create(organization, customers, DEMO_REFERENCE)
    if not _payable(booking):
        why = (
            "is cancelled"
            if booking.cancelled_at is not None
            else "is paid"
            if booking.balance_due <= 0
            else "is past its service date"
        )
        return {
            "Pay a booking": f"{booking.reference} {why}; `kassa demo --reset` makes it payable"
        }
    active = PaymentLink.objects.filter(booking=booking, status=PaymentLink.Status.ACTIVE).first()
    token = links.reusable_token(active) if active is not None else None
    if token is None:
        _link, token = links.create_link(booking, actor=actor)
    return {"Pay a booking": pay_url(token)}


demo.register(load)
demo.register_reset(reset)
