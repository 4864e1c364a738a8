"""Refunds.

Asking for a refund commits a pending refund and holds its amount in the ledger (taken from
where the payment's money went, so a spent wallet balance cannot be refunded twice). Then the
provider is called outside the transaction, with our refund id as its idempotency key. Its
answer settles the hold into the clearing account, or releases it back.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from kassa.core import audit
from kassa.core.actors import Actor
from kassa.core.errors import InvalidRequest, KassaError, ResourceMissing, StateConflict
from kassa.core.models import Organization
from kassa.core.money import validate_amount
from kassa.events.services import emit
from kassa.payments import ledger as payment_ledger
from kassa.payments.gateways.base import GatewayError, RefundOutcome, RefundRequest
from kassa.payments.gateways.registry import gateway_for
from kassa.payments.models import Payment, PaymentStatus, Refund
from kassa.payments.purposes import purpose_of
from kassa.payments.representations import refund_dict


class PaymentNotSucceeded(StateConflict):
    code = "payment_not_succeeded"
    default_message = "Only a succeeded payment can be refunded."


class RefundAmountTooHigh(InvalidRequest):
    code = "refund_amount_too_high"


class RefundNotAllowed(KassaError):
    status = 409
    code = "refund_not_allowed"
    default_message = "Refunds are not allowed for this payment."


RETRY_DELAYS = (
    timedelta(seconds=30),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)


def refundable_amount(payment: Payment) -> int:
    """What can still be refunded: not refunded yet and not held by a pending refund."""
    pending = (
        Refund.objects.filter(payment=payment, status=Refund.Status.PENDING).aggregate(
            s=Sum("amount")
        )["s"]
        or 0
    )
    return payment.amount - payment.amount_refunded - pending


def create_refund(
    organization: Organization,
    *,
    payment_id: str,
    amount: int | None = None,
    reason: str = "",
    actor: Actor,
    metadata: dict[str, str] | None = None,
) -> Refund:
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update(of=("self",))
            .filter(organization=organization, pk=payment_id)
            .select_related("gateway_account")
            .first()
        )
        if payment is None:
            raise ResourceMissing(f"No such payment: {payment_id!r}.", param="payment")
        if payment.status != PaymentStatus.SUCCEEDED:
            raise PaymentNotSucceeded(
                f"Payment {payment.id} is {payment.status}; only succeeded payments can be"
                " refunded.",
                param="payment",
            )
        remaining = refundable_amount(payment)
        if remaining <= 0:
            raise RefundAmountTooHigh(
                "This payment is already fully refunded (or refunds are pending).", param="amount"
            )
        amount = remaining if amount is None else validate_amount(amount, payment.currency)
        if amount > remaining:
            raise RefundAmountTooHigh(
                f"The refund of {amount} exceeds what can still be refunded ({remaining}).",
                param="amount",
            )
        if payment.gateway_account is not None:
            caps = gateway_for(payment.gateway_account).capabilities
            if not caps.refunds:
                raise RefundNotAllowed(
                    f"{payment.gateway_account.get_provider_display()} refunds are made in the "
                    "provider's own cabinet."
                )
            if not caps.partial_refunds and amount != payment.amount:
                raise RefundNotAllowed(
                    "This provider only refunds the whole payment.", param="amount"
                )
            problem = gateway_for(payment.gateway_account).check_refund(
                amount, payment.currency, payment.amount
            )
            if problem:
                raise RefundNotAllowed(problem, param="amount")
        purpose = purpose_of(payment.purpose)
        if not purpose.can_refund(payment, amount):
            raise RefundNotAllowed("This payment's purpose does not allow a refund.")
        refund = Refund.objects.create(
            organization=organization,
            payment=payment,
            amount=amount,
            currency=payment.currency,
            reason=(reason or "")[:500],
            metadata=metadata or {},
        )
        purpose.lock(payment)
        payment_ledger.hold_refund(payment, refund)
        emit(organization.id, "refund.created", refund_dict(refund))
        audit.record(
            actor=actor,
            action="refund.created",
            organization_id=organization.id,
            obj=refund,
            reason=reason,
            after={"payment": payment.id, "amount": amount},
        )
    return submit_refund(refund.id)


def submit_refund(refund_id: str) -> Refund:
    """Ask the provider (outside any transaction) and record its answer."""
    refund = Refund.objects.select_related("payment__gateway_account").get(pk=refund_id)
    if refund.status != Refund.Status.PENDING:
        return refund
    payment = refund.payment
    if payment.gateway_account is None:
        # Money received outside a gateway is returned outside it too.
        return record_refund_result(refund.id, RefundOutcome.SUCCEEDED)
    try:
        result = gateway_for(payment.gateway_account).refund(
            RefundRequest(
                refund_id=refund.id,
                payment_id=payment.id,
                payment_gateway_reference=payment.gateway_reference,
                amount=refund.amount,
                currency=refund.currency,
                payment_amount=payment.amount,
                idempotency_key=refund.id,
                reason=refund.reason,
            )
        )
    except GatewayError:
        _schedule_retry(refund, attempt=int(refund.metadata.get("_attempts", "0") or 0))
        return refund
    return record_refund_result(
        refund.id,
        result.outcome,
        gateway_reference=result.gateway_reference,
        failure_message=result.failure_message,
    )


def _schedule_retry(refund: Refund, attempt: int) -> None:
    from kassa.payments.tasks import retry_refund

    if attempt >= len(RETRY_DELAYS):
        record_refund_result(
            refund.id, RefundOutcome.FAILED, failure_message="The provider could not be reached."
        )
        return
    with transaction.atomic():
        Refund.objects.filter(pk=refund.pk).update(
            metadata={**refund.metadata, "_attempts": str(attempt + 1)}
        )
        retry_refund.using(run_after=timezone.now() + RETRY_DELAYS[attempt]).enqueue(refund.id)


def record_refund_result(
    refund_id: str,
    outcome: RefundOutcome | str,
    *,
    gateway_reference: str | None = None,
    failure_message: str | None = None,
) -> Refund:
    if outcome == RefundOutcome.PENDING:
        if gateway_reference:
            Refund.objects.filter(pk=refund_id, gateway_reference="").update(
                gateway_reference=gateway_reference[:255]
            )
        return Refund.objects.get(pk=refund_id)
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != Refund.Status.PENDING:
            return refund  # already recorded: repeats change nothing
        payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
        refund.gateway_reference = (gateway_reference or refund.gateway_reference)[:255]
        refund.updated_at = timezone.now()
        purpose = purpose_of(payment.purpose)
        purpose.lock(payment)
        if outcome == RefundOutcome.SUCCEEDED:
            refund.status = Refund.Status.SUCCEEDED
            refund.save()
            payment_ledger.settle_refund(payment, refund)
            payment.amount_refunded += refund.amount
            payment.updated_at = refund.updated_at
            payment.save(update_fields=["amount_refunded", "updated_at"])
            purpose.on_refunded(payment, refund)
            emit(payment.organization_id, "refund.succeeded", refund_dict(refund))
        else:
            refund.status = Refund.Status.FAILED
            refund.failure_message = (failure_message or "The provider refused the refund.")[:500]
            refund.save()
            payment_ledger.release_refund(payment, refund)
            emit(payment.organization_id, "refund.failed", refund_dict(refund))
    return refund


def record_gateway_refund(
    payment_id: str, *, amount: int, gateway_reference: str, reason: str = ""
) -> Refund:
    """A refund the provider made on its own (its cabinet, a Payme CancelTransaction): record
    it at once, unless a refund with this gateway reference is already known."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        existing = Refund.objects.filter(
            payment=payment, gateway_reference=gateway_reference
        ).first()
        if existing is not None:
            return existing
        if payment.status != PaymentStatus.SUCCEEDED:
            raise PaymentNotSucceeded()
        remaining = refundable_amount(payment)
        if amount > remaining:
            raise RefundAmountTooHigh(
                f"The provider refunded {amount}, more than the {remaining} left.", param="amount"
            )
        refund = Refund.objects.create(
            organization_id=payment.organization_id,
            payment=payment,
            amount=amount,
            currency=payment.currency,
            reason=reason[:500],
            gateway_reference=gateway_reference[:255],
        )
        purpose_of(payment.purpose).lock(payment)
        payment_ledger.hold_refund(payment, refund)
        emit(payment.organization_id, "refund.created", refund_dict(refund))
        return record_refund_result(refund.id, RefundOutcome.SUCCEEDED)
