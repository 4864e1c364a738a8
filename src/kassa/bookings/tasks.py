"""Background jobs of bookings: the reminder scan (periodic), sending reminders, canceling
the open payment of a link that stopped working, pruning the rate limiter's windows."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task

from kassa.bookings import ratelimit, reminders
from kassa.core.errors import KassaError
from kassa.payments import services as payments
from kassa.payments.gateways.base import GatewayError
from kassa.payments.models import Payment, PaymentStatus
from kassa.platform import periodic


@task()
def scan_reminders() -> int:
    """Periodic: insert and enqueue every reminder that is due (also ones missed by downtime)."""
    return len(reminders.scan())


@task(queue_name="notifications")
def send_reminders(reminder_ids: list[int]) -> dict[str, int]:
    outcome: dict[str, int] = {}
    for reminder_id in reminder_ids:
        result = reminders.send(reminder_id)
        outcome[result] = outcome.get(result, 0) + 1
    return outcome


@task(queue_name="gateways")
def cancel_link_payment(payment_id: str) -> str:
    """Cancel an open payment of a link that was invalidated or replaced (with the provider
    too, best effort); a success that still arrives is accepted and booked."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None or payment.status not in (
        PaymentStatus.PENDING,
        PaymentStatus.REQUIRES_ACTION,
    ):
        return payment.status if payment else "missing"
    try:
        return payments.cancel_payment(payment, reason="payment link invalidated").status
    except (KassaError, GatewayError):
        return Payment.objects.get(pk=payment_id).status


@task()
def prune_rate_limits() -> int:
    return ratelimit.prune()


periodic.register("bookings.scan_reminders", scan_reminders, timedelta(minutes=5))
periodic.register("bookings.prune_rate_limits", prune_rate_limits, timedelta(hours=1))
