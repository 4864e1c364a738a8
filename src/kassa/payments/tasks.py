"""Background jobs of payments: inbound event processing, refund retries, reconciliation."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from kassa.payments import inbound
from kassa.payments import refunds as refund_services
from kassa.payments.gateways.base import GatewayError, Outcome
from kassa.payments.gateways.registry import gateway_for
from kassa.payments.models import Payment, PaymentStatus
from kassa.payments.services import Change, apply_outcome, payment_ref
from kassa.payments.states import InvalidTransition, Source
from kassa.platform import periodic

_OPEN = [PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION]


@task(queue_name="gateways")
def process_gateway_event(event_id: str) -> str:
    return inbound.process(event_id)


@task(queue_name="gateways")
def retry_refund(refund_id: str) -> None:
    refund_services.submit_refund(refund_id)


@task(queue_name="gateways")
def reconcile_payment(payment_id: str) -> str:
    """Ask the provider about one payment and record what it says; expire stale checkouts."""
    payment = Payment.objects.select_related("gateway_account").get(pk=payment_id)
    if payment.status not in _OPEN:
        return payment.status
    now = timezone.now()
    Payment.objects.filter(pk=payment.id).update(checked_at=now)
    result = None
    if payment.gateway_account is not None:
        gateway = gateway_for(payment.gateway_account)
        if gateway.capabilities.status_query:
            try:
                result = gateway.query_status(payment_ref(payment))
            except (GatewayError, NotImplementedError):
                result = None
    try:
        if result is not None and result.outcome != Outcome.PENDING:
            change = Change(
                gateway_reference=result.gateway_reference,
                failure_code=result.failure_code,
                failure_message=result.failure_message,
                amount=result.amount,
                currency=result.currency,
            )
            return apply_outcome(payment.id, result.outcome, Source.GATEWAY, change=change).status
        if (
            # A payment waiting for the customer to try again (a declined Click attempt,
            # an abandoned confirmation) expires like a pending one.
            payment.status in (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION)
            and payment.expires_at is not None
            and payment.expires_at <= now
        ):
            return apply_outcome(payment.id, Outcome.EXPIRED, Source.SYSTEM).status
    except InvalidTransition:
        pass
    return Payment.objects.get(pk=payment.id).status


@task()
def reconcile_stale_payments() -> int:
    """Periodic: enqueue a reconciliation for each open payment without recent news."""
    now = timezone.now()
    # A payment waiting this long without news is asked about.
    stale_after = timedelta(minutes=settings.KASSA_RECONCILE_AFTER_MINUTES)
    stale = (
        Payment.objects.filter(status__in=_OPEN)
        .filter(Q(updated_at__lte=now - stale_after) | Q(expires_at__lte=now))
        .filter(Q(checked_at__isnull=True) | Q(checked_at__lte=now - stale_after))
    )
    count = 0
    for payment_id in stale.values_list("pk", flat=True).iterator():
        reconcile_payment.enqueue(payment_id)
        count += 1
    return count


periodic.register("payments.reconcile", reconcile_stale_payments, timedelta(minutes=1))
