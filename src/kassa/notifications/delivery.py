"""Delivering one stored notification: claim it, send it outside any transaction, record
the outcome. Failures are retried with backoff; hard failures count against the address and
pause the channel for it at a threshold."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from kassa.notifications.channels import HardFailure, Refused, Sender, TransientFailure
from kassa.notifications.models import (
    Channel,
    Notification,
    NotificationStatus,
    RecipientState,
)
from kassa.notifications.registry import UnknownNotificationType, get_type
from kassa.notifications.rendering import render

logger = logging.getLogger("kassa.notifications")

# After attempt n fails, the next one is RETRY_DELAYS[n - 1] later; then it has failed.
RETRY_DELAYS = [
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
]
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# Hard failures of one address on one channel before the channel is paused for it.
PAUSE_AFTER_HARD_FAILURES = 3
# A SENDING row older than this belongs to a worker that died mid-send (a send is at most
# ~30 s: 15 s connect plus 15 s reply); it is sent again (at least once).
STALE_SENDING = timedelta(minutes=2)

_DONE = (NotificationStatus.SENT, NotificationStatus.FAILED, NotificationStatus.SKIPPED)


def _sender(channel: str) -> Sender | None:
    from kassa.notifications.channels import senders

    return senders().get(channel)


def _claim(notification_id: str) -> Notification | None:
    """Mark the row SENDING and count the attempt, in its own short transaction."""
    from kassa.notifications.tasks import deliver_notification

    now = timezone.now()
    with transaction.atomic():
        row = Notification.objects.select_for_update().filter(pk=notification_id).first()
        if row is None or row.status in _DONE:
            return None
        if (
            row.status == NotificationStatus.SENDING
            and row.last_attempt_at is not None
            and row.last_attempt_at > now - STALE_SENDING
        ):
            # Another run is sending it (or died a moment ago): look again when it is stale.
            deliver_notification.using(run_after=row.last_attempt_at + STALE_SENDING).enqueue(
                row.id
            )
            return None
        row.status = NotificationStatus.SENDING
        row.attempts += 1
        row.last_attempt_at = now
        row.next_attempt_at = None
        row.save(update_fields=["status", "attempts", "last_attempt_at", "next_attempt_at"])
    return row


def _finish(row: Notification, status: str, error: str = "") -> None:
    Notification.objects.filter(pk=row.id).update(
        status=status,
        last_error=error[:2000],
        sent_at=timezone.now() if status == NotificationStatus.SENT else None,
    )


def _hard_failure(row: Notification, message: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        _finish(row, NotificationStatus.FAILED, message)
        state, _ = RecipientState.objects.select_for_update().get_or_create(
            organization_id=row.organization_id, channel=row.channel, recipient=row.recipient
        )
        RecipientState.objects.filter(pk=state.pk).update(
            hard_failures=F("hard_failures") + 1, last_failure=message[:2000], updated_at=now
        )
        if state.hard_failures + 1 >= PAUSE_AFTER_HARD_FAILURES and state.paused_at is None:
            RecipientState.objects.filter(pk=state.pk).update(paused_at=now)
            logger.warning("paused %s for %s after hard failures", row.channel, row.recipient)


def _transient_failure(row: Notification, failure: TransientFailure) -> None:
    from kassa.notifications.tasks import deliver_notification

    message = str(failure)
    if row.attempts >= MAX_ATTEMPTS:
        _finish(row, NotificationStatus.FAILED, message)
        return
    delay = RETRY_DELAYS[row.attempts - 1]
    if failure.retry_after is not None:
        delay = max(delay, timedelta(seconds=failure.retry_after))
    due = timezone.now() + delay
    with transaction.atomic():
        Notification.objects.filter(pk=row.id).update(
            status=NotificationStatus.RETRYING, last_error=message[:2000], next_attempt_at=due
        )
        deliver_notification.using(run_after=due).enqueue(row.id)


def deliver(notification_id: str) -> str:
    """Send one notification if it still needs sending; return its resulting status."""
    row = _claim(notification_id)
    if row is None:
        return "noop"
    if RecipientState.objects.filter(
        organization_id=row.organization_id,
        channel=row.channel,
        recipient=row.recipient,
        paused_at__isnull=False,
    ).exists():
        _finish(row, NotificationStatus.SKIPPED, "channel paused for this recipient")
        return NotificationStatus.SKIPPED
    try:
        ntype = get_type(row.type)
    except UnknownNotificationType as exc:
        _finish(row, NotificationStatus.FAILED, str(exc))
        return NotificationStatus.FAILED
    organization = row.organization
    customer = row.customer
    rendered = render(
        ntype, organization=organization, customer=customer, context=row.context, locale=row.locale
    )
    sender = _sender(row.channel)
    if sender is None:
        _finish(row, NotificationStatus.FAILED, f"the {row.channel} channel is not configured")
        return NotificationStatus.FAILED
    try:
        sender(row, rendered)
    except HardFailure as exc:
        _hard_failure(row, str(exc))
        return NotificationStatus.FAILED
    except TransientFailure as exc:
        _transient_failure(row, exc)
        return NotificationStatus.RETRYING
    except Refused as exc:
        _finish(row, NotificationStatus.FAILED, str(exc))
        return NotificationStatus.FAILED
    except Exception as exc:
        # A bug or an error a channel did not foresee: the row must not stay `sending` with
        # no task left to look at it, so it is retried like a passing failure.
        logger.exception("unexpected error sending %s", row.id)
        _transient_failure(row, TransientFailure(f"unexpected error: {type(exc).__name__}: {exc}"))
        return NotificationStatus.RETRYING
    _finish(row, NotificationStatus.SENT)
    if row.channel != Channel.PUSH:
        # A success clears the address's record of hard failures.
        RecipientState.objects.filter(
            organization_id=row.organization_id,
            channel=row.channel,
            recipient=row.recipient,
            paused_at__isnull=True,
        ).update(hard_failures=0)
    return NotificationStatus.SENT
