"""Demo data: a booking with a balance due and a working pay link, so a person can pay it
with the sandbox card (`kassa demo` prints the link)."""

from __future__ import annotations

from datetime import timedelta

from kassa.bookings import clock, links, services
from kassa.bookings.models import Booking, PaymentLink
from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.customers import demo
from kassa.customers.models import Customer

DEMO_REFERENCE = "DEMO-SAMARKAND"


def load(organization: Organization, customers: dict[str, Customer]) -> dict[str, str]:
    actor = Actor.system("demo")
    booking = Booking.objects.filter(organization=organization, reference=DEMO_REFERENCE).first()
    if booking is None:
        customer = customers.get("dilnoza@example.com") or next(iter(customers.values()))
        booking = services.create_booking(
            organization,
            customer_id=customer.id,
            reference=DEMO_REFERENCE,
            service_date=clock.local_today(organization.timezone) + timedelta(days=30),
            service_time="08:00",
            description="Samarkand and Bukhara, 3 days",
            total_amount=450_000_000,
            currency="UZS",
            deposit_paid=100_000_000,
            livemode=False,
        )
    if booking.cancelled_at is not None or booking.balance_due <= 0:
        return {}
    if links.deadline(booking) <= clock.now():
        return {}
    active = PaymentLink.objects.filter(booking=booking, status=PaymentLink.Status.ACTIVE).first()
    token = links.reusable_token(active) if active is not None else None
    if token is None:
        _link, token = links.create_link(booking, actor=actor)
    from kassa.bookings.tokens import pay_url

    return {"Pay a booking": pay_url(token)}


demo.register(load)
