"""Inbound gateway events: stored once, applied once.

`receive` verifies a provider's request through its connector and stores each event it
carries, unique on (provider, external id); a repeat is acknowledged and ignored. Requests that
fail verification are kept as rejected (without an external id) and change nothing else.

An event of a provider whose notifications are authoritative (`authoritative_events`: all but
OCTO) is applied in the transaction that stores it: stored, applied and marked processed in
one commit, with no task. OCTO's are confirmed with a status call first, which must not run
inside a transaction, so they are applied by a task (`process`), enqueued with the event.

Applying finds the payment (by our id when the provider echoes it, else by the provider's
reference) and records the outcome. An event whose payment is not visible yet (it arrived
before our commit) is retried with backoff; an event that no longer applies (a failure after
a success) is marked ignored; any other error is retried and then shown as failed in the admin,
where it can be reprocessed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from kassa.core.errors import KassaError
from kassa.payments import refunds as refund_services
from kassa.payments import repository, services
from kassa.payments.accounts import account_by_id
from kassa.payments.gateways.base import (
    EventRefused,
    InboundRequest,
    NormalizedEvent,
    RefundOutcome,
    SavedMethod,
    VerificationError,
)
from kassa.payments.gateways.registry import gateway_for
from kassa.payments.models import GatewayAccount, GatewayEvent, Payment, Refund
from kassa.payments.states import InvalidTransition, Source

logger = logging.getLogger("kassa.payments.inbound")

RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
)
_KEPT_HEADERS = ("content-type", "user-agent", "stripe-signature", "kassa-sandbox-signature")


class PaymentNotFound(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Received:
    """A newly stored event and, when it was applied as it arrived, the payment it changed."""

    record: GatewayEvent
    payment: Payment | None = None


def receive(account: GatewayAccount, request: InboundRequest) -> list[Received]:
    """Verify and store; returns the newly stored events. Raises VerificationError.

    An event of a provider whose notifications are authoritative (every one but OCTO's, which
    are confirmed with a status call first) is applied in the transaction that stores it, so
    it is stored, applied and marked in one commit; should applying fail, it is stored pending
    with its retry queued, as any other. The rest are applied by the event task."""
    headers = {k: v for k, v in request.headers.items() if k in _KEPT_HEADERS}
    # Kept for reading in the admin; text that PostgreSQL cannot store (NUL, which arrives
    # only from a forger) reads as U+FFFD, as undecodable bytes do.
    payload = request.body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    gateway = gateway_for(account)
    try:
        events = gateway.parse_inbound(request)
    except VerificationError as exc:
        GatewayEvent.objects.create(
            organization_id=account.organization_id,
            gateway_account=account,
            provider=account.provider,
            payload=payload[:100_000],
            headers=headers,
            verified=False,
            verification_error=str(exc)[:300],
            status=GatewayEvent.Status.REJECTED,
        )
        logger.warning("rejected %s event for %s: %s", account.provider, account.id, exc)
        raise
    inline = gateway.capabilities.authoritative_events
    stored = []
    for event in events:
        received = _store(account, event, payload, headers, inline=inline)
        if received is not None:
            stored.append(received)
    return stored


def _store(
    account: GatewayAccount,
    event: NormalizedEvent,
    payload: str,
    headers: dict[str, str],
    *,
    inline: bool,
) -> Received | None:
    from kassa.payments.tasks import process_gateway_event  # tasks import this module

    processable = event.kind in ("payment", "refund")
    record = GatewayEvent(
        organization_id=account.organization_id,
        gateway_account_id=account.id,
        provider=account.provider,
        external_id=event.external_id,
        raw_type=event.raw_type[:100],
        payload=payload[:100_000],
        headers=headers,
        normalized=_normalized_json(event),
        verified=True,
        status=GatewayEvent.Status.PENDING if processable else GatewayEvent.Status.IGNORED,
    )
    with transaction.atomic():
        # A repeat (unique on provider and external id) is skipped without an error: it was
        # acknowledged and stored before, and is not processed again. (Two deliveries at once:
        # the second INSERT waits for the first transaction, then finds the row.)
        if not repository.store_gateway_event(record):
            return None
        if processable and inline:
            return Received(record, _apply(record, event)[1])
        if processable:
            process_gateway_event.enqueue(record.id)
    return Received(record)


def _normalized_json(event: NormalizedEvent) -> dict[str, Any]:
    data = asdict(event)
    if event.occurred_at is not None:
        data["occurred_at"] = event.occurred_at.isoformat()
    return json.loads(json.dumps(data, default=str))


def _event_from(record: GatewayEvent) -> NormalizedEvent:
    data = dict(record.normalized)
    saved = data.pop("saved_method", None)
    data.pop("occurred_at", None)
    return NormalizedEvent(**data, saved_method=SavedMethod(**saved) if saved else None)


def process(event_id: str) -> str:
    """Process one stored event; returns its resulting status."""
    record = repository.get_gateway_event(event_id)
    if record is None:
        raise GatewayEvent.DoesNotExist(event_id)
    return process_record(record)[0]


def process_record(record: GatewayEvent) -> tuple[str, Payment | None]:
    """Process a stored event (as loaded by the task); returns its resulting status and the
    payment it changed, if any."""
    if record.status in (GatewayEvent.Status.PROCESSED, GatewayEvent.Status.IGNORED):
        return record.status, None
    event = _event_from(record)
    if event.kind == "payment":
        account = account_by_id(record.gateway_account_id or "")
        if account is None:
            return _retry(record, f"no gateway account {record.gateway_account_id}"), None
        try:
            event = gateway_for(account).confirm_event(event)
        except (EventRefused, KassaError, LookupError, ValueError) as exc:
            return _failed(record, exc), None
    return _apply(record, event)


def _apply(record: GatewayEvent, event: NormalizedEvent) -> tuple[str, Payment | None]:
    """Apply a stored event and record how it went, in one transaction (or, inside the
    caller's, behind a savepoint: a failure undoes only what the event changed)."""
    try:
        with transaction.atomic():
            if event.kind == "refund":
                payment = _apply_refund(record, event)
            else:
                payment = _apply_payment(record, event)
            _finish(record, GatewayEvent.Status.PROCESSED, payment=payment)
    except PaymentNotFound as exc:
        return _retry(record, f"payment not found yet: {exc}"), None
    except InvalidTransition as exc:
        _finish(record, GatewayEvent.Status.IGNORED, note=str(exc))
        return GatewayEvent.Status.IGNORED, None
    except (EventRefused, KassaError, LookupError, ValueError) as exc:
        return _failed(record, exc), None
    return GatewayEvent.Status.PROCESSED, payment


def _failed(record: GatewayEvent, exc: Exception) -> str:
    """An event that could not be applied: refused by its gateway for good (failed), or
    retried later."""
    if isinstance(exc, EventRefused):
        logger.error("gateway event %s refused: %s", record.id, exc)
        _finish(record, GatewayEvent.Status.FAILED, note=f"refused: {exc}")
        return GatewayEvent.Status.FAILED
    return _retry(record, f"{type(exc).__name__}: {exc}")


def _find_payment(record: GatewayEvent, event: NormalizedEvent) -> Payment:
    query = Payment.objects.filter(organization_id=record.organization_id)
    if event.payment_id:
        payment = query.filter(pk=event.payment_id).first()
    elif event.gateway_reference:
        payment = query.filter(
            gateway_account_id=record.gateway_account_id, gateway_reference=event.gateway_reference
        ).first()
    else:
        payment = None
    if payment is None:
        raise PaymentNotFound(event.payment_id or event.gateway_reference or "no reference")
    return payment


def _apply_payment(record: GatewayEvent, event: NormalizedEvent) -> Payment:
    change = services.Change(
        gateway_reference=event.gateway_reference,
        failure_code=event.failure_code,
        failure_message=event.failure_message,
        action_url=event.action_url,
        saved_method=event.saved_method,
        amount=event.amount,
        currency=event.currency,
    )
    outcome = event.outcome or "pending"
    if event.payment_id:
        # Locked by our id and the event's organization in one query (no look-up first).
        try:
            return services.apply_outcome(
                event.payment_id,
                outcome,
                Source.GATEWAY,
                change=change,
                organization_id=record.organization_id,
            )
        except Payment.DoesNotExist:
            raise PaymentNotFound(event.payment_id) from None
    payment = _find_payment(record, event)
    return services.apply_outcome(payment.id, outcome, Source.GATEWAY, change=change)


def _apply_refund(record: GatewayEvent, event: NormalizedEvent) -> Payment:
    refund = None
    if event.refund_id:
        refund = Refund.objects.filter(
            organization_id=record.organization_id, pk=event.refund_id
        ).first()
    if refund is None and event.refund_gateway_reference:
        refund = Refund.objects.filter(
            organization_id=record.organization_id,
            gateway_reference=event.refund_gateway_reference,
        ).first()
    if refund is not None:
        refund_services.record_refund_result(
            refund.id,
            event.outcome or RefundOutcome.PENDING,
            gateway_reference=event.refund_gateway_reference,
            failure_message=event.failure_message,
        )
        return refund.payment
    payment = _find_payment(record, event)
    if event.outcome == RefundOutcome.SUCCEEDED and event.amount and event.refund_gateway_reference:
        # Refunded in the provider's cabinet, not through Kassa.
        refund_services.record_gateway_refund(
            payment.id, amount=event.amount, gateway_reference=event.refund_gateway_reference
        )
    return payment


def _retry(record: GatewayEvent, error: str) -> str:
    from kassa.payments.tasks import process_gateway_event

    attempts = record.attempts + 1
    with transaction.atomic():
        if attempts > len(RETRY_DELAYS):
            GatewayEvent.objects.filter(pk=record.pk).update(
                attempts=attempts, last_error=error, status=GatewayEvent.Status.FAILED
            )
            logger.error("gateway event %s failed for good: %s", record.id, error)
            return GatewayEvent.Status.FAILED
        GatewayEvent.objects.filter(pk=record.pk).update(attempts=attempts, last_error=error)
        process_gateway_event.using(run_after=timezone.now() + RETRY_DELAYS[attempts - 1]).enqueue(
            record.id
        )
    return GatewayEvent.Status.PENDING


def _finish(
    record: GatewayEvent, status: str, *, payment: Payment | None = None, note: str = ""
) -> None:
    record.status = status
    record.processed_at = timezone.now()
    if payment is not None:
        record.payment_id = payment.id
    record.last_error = note
    record.attempts += 1
    fields = ["status", "processed_at", "payment", "last_error", "attempts"]
    repository.save_gateway_event(record, fields)


def reprocess(event_id: str) -> None:
    """The admin's "reprocess": run a failed event again."""
    from kassa.payments.tasks import process_gateway_event

    with transaction.atomic():
        GatewayEvent.objects.filter(
            pk=event_id, status__in=[GatewayEvent.Status.FAILED, GatewayEvent.Status.PENDING]
        ).update(status=GatewayEvent.Status.PENDING, attempts=0)
        process_gateway_event.enqueue(event_id)
