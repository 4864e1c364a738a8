"""Balance reminders: the scan that finds due ones, and sending one.

When is a reminder due? For a threshold of T days and a booking on day D, at the
organization's send time (default 09:00) on day D - T in the organization's time zone. The
scan (a periodic job, `bookings.scan_reminders`) inserts one row per booking and threshold
whose moment has passed, with one INSERT ... SELECT per organization group, threshold and
service date, and enqueues their sending in the same transaction:

- exactly once: the row is unique on (booking, threshold) and inserted with ON CONFLICT DO
  NOTHING ... RETURNING, so only the scan that inserted a row enqueues it, however many
  scans run at once (they are also serialized, on PostgreSQL by an advisory lock, which keeps
  the catch-up rule below deterministic);
- catch-up: a scan looks at every service date still ahead, so reminders missed while Kassa
  was down are found by the first scan after it; they go out late only while the booking is
  unpaid, not cancelled and its service date is ahead. When several thresholds were missed,
  only the most urgent is sent; the others are recorded as skipped;
- a threshold whose moment came before the booking existed is not sent (a booking made two
  days ahead gets the 1-day reminder, not a late 7- and 3-day one).

The statements (the INSERT ... SELECT, the lock, PostgreSQL's statistics upkeep) are in
`kassa.bookings.repository`; this module decides which to run.

Sending re-checks the booking under its lock (paid or cancelled in the meantime: skipped),
reuses the booking's active link or makes one, and queues the email through notifications.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction

from kassa.bookings import clock, links, notifications, repository
from kassa.bookings.models import Booking, Reminder, ReminderSettings
from kassa.bookings.representations import reminder_dict
from kassa.core import audit
from kassa.core.actors import Actor
from kassa.core.errors import InvalidRequest, StateConflict
from kassa.core.models import Organization
from kassa.events.services import emit

DEFAULT_THRESHOLDS = (7, 3, 1)
DEFAULT_SEND_TIME = dt.time(9, 0)
MAX_THRESHOLD = 90
ENQUEUE_CHUNK = 200


@dataclass(frozen=True)
class Schedule:
    timezone: str
    thresholds: tuple[int, ...]
    send_time: dt.time


def urgency_for(days: int) -> str:
    if days <= 1:
        return Reminder.Urgency.URGENT
    if days <= 3:
        return Reminder.Urgency.FIRM
    return Reminder.Urgency.FRIENDLY


def validate_thresholds(value: object) -> list[int]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest("thresholds must be a non-empty list of days.", param="thresholds")
    days = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= MAX_THRESHOLD:
            raise InvalidRequest(
                f"Each threshold is a whole number of days from 1 to {MAX_THRESHOLD}.",
                param="thresholds",
            )
        days.append(item)
    return sorted(set(days), reverse=True)


def update_settings(
    organization: Organization,
    *,
    actor: Actor,
    thresholds: list[int] | None = None,
    send_time: dt.time | None = None,
    enabled: bool | None = None,
) -> ReminderSettings:
    with transaction.atomic():
        row, _ = ReminderSettings.objects.select_for_update().get_or_create(
            organization=organization
        )
        before = {
            "thresholds": row.thresholds,
            "send_time": row.send_time.isoformat(),
            "enabled": row.enabled,
        }
        if thresholds is not None:
            row.thresholds = validate_thresholds(thresholds)
        if send_time is not None:
            row.send_time = send_time
        if enabled is not None:
            row.enabled = enabled
        row.updated_at = clock.now()
        row.save()
        audit.record(
            actor=actor,
            action="reminder_settings.updated",
            organization_id=organization.id,
            obj=row,
            object_id=organization.id,
            before=before,
            after={
                "thresholds": row.thresholds,
                "send_time": row.send_time.isoformat(),
                "enabled": row.enabled,
            },
        )
    return row


def _groups() -> dict[Schedule, list[str]]:
    """Organizations that share a time zone and schedule are scanned by the same statements."""
    rows = {r.organization_id: r for r in ReminderSettings.objects.all()}
    groups: dict[Schedule, list[str]] = defaultdict(list)
    for org_id, tz in Organization.objects.values_list("id", "timezone"):
        row = rows.get(org_id)
        if row is not None and not row.enabled:
            continue
        schedule = Schedule(
            timezone=tz,
            thresholds=tuple(sorted(set(row.thresholds))) if row else DEFAULT_THRESHOLDS,
            send_time=row.send_time if row else DEFAULT_SEND_TIME,
        )
        groups[schedule].append(org_id)
    return groups


def due_moment(service_date: dt.date, threshold: int, schedule: Schedule) -> dt.datetime:
    return clock.local_moment(
        service_date - timedelta(days=threshold), schedule.send_time, schedule.timezone
    )


def scan(now: dt.datetime | None = None) -> list[int]:
    """Insert every due reminder and enqueue the sending of each; return the queued ids."""
    from kassa.bookings.tasks import send_reminders

    now = now or clock.now()
    queued: list[int] = []
    superseded: list[int] = []
    # Bookings given a reminder by this scan; thresholds go from the most urgent up, so a
    # booking that missed several gets the most urgent and the others are skipped. (One from
    # an earlier scan with a smaller threshold is caught when sending.) Decided here rather
    # than by a correlated subquery, whose plan on a fresh table can be a scan per row.
    reminded: set[str] = set()
    with transaction.atomic():
        with repository.reminder_scan() as statements:
            for schedule, org_ids in _groups().items():
                today = clock.local_today(schedule.timezone, now)
                # The most urgent threshold first, so a booking that missed several gets it.
                for threshold in sorted(schedule.thresholds):
                    urgency = urgency_for(threshold)
                    for offset in range(1, threshold + 1):
                        service_date = today + timedelta(days=offset)
                        due = due_moment(service_date, threshold, schedule)
                        if due > now:
                            continue
                        inserted = statements.insert_due(
                            org_ids,
                            threshold=threshold,
                            urgency=urgency,
                            due=due,
                            now=now,
                            service_date=service_date,
                        )
                        for pk, booking_id in inserted:
                            if booking_id in reminded:
                                superseded.append(pk)
                            else:
                                reminded.add(booking_id)
                                queued.append(pk)
        for start in range(0, len(superseded), 1000):
            Reminder.objects.filter(pk__in=superseded[start : start + 1000]).update(
                status=Reminder.Status.SKIPPED, skip_reason="superseded by a more urgent reminder"
            )
        queued.sort()
        for start in range(0, len(queued), ENQUEUE_CHUNK):
            send_reminders.enqueue(queued[start : start + ENQUEUE_CHUNK])
    return queued


def _skip_reason(reminder: Reminder, booking: Booking, days_left: int) -> str:
    if booking.cancelled_at is not None:
        return "booking cancelled"
    if booking.balance_due <= 0:
        return "booking paid"
    if days_left <= 0:
        return "service date reached"
    if (
        reminder.kind == Reminder.Kind.SCHEDULED
        and reminder.threshold_days is not None
        and Reminder.objects.filter(
            booking=booking,
            kind=Reminder.Kind.SCHEDULED,
            threshold_days__lt=reminder.threshold_days,
            status=Reminder.Status.SENT,
        ).exists()
    ):
        return "superseded by a more urgent reminder"
    return ""


def _deliver(reminder: Reminder, booking: Booking) -> str:
    """Send a queued reminder of a booking the caller has locked; "" or why it was skipped."""
    now = clock.now()
    days_left = (booking.service_date - clock.local_today(booking.organization.timezone, now)).days
    reason = _skip_reason(reminder, booking, days_left)
    if reason:
        reminder.status = Reminder.Status.SKIPPED
        reminder.skip_reason = reason
        reminder.save(update_fields=["status", "skip_reason"])
        return reason
    link, _token = links.link_for_reminder(booking)
    notification = notifications.queue_reminder(booking, reminder, link, days_left)
    reminder.status = Reminder.Status.SENT
    reminder.sent_at = now
    reminder.payment_link = link
    reminder.notification_id = notification.id if notification else ""
    reminder.save(update_fields=["status", "sent_at", "payment_link", "notification_id"])
    emit(booking.organization_id, "reminder.sent", reminder_dict(reminder))
    return ""


def send(reminder_id: int) -> str:
    """Send one reminder if it is still queued: "sent", "skipped" or "noop"."""
    with transaction.atomic():
        reminder = Reminder.objects.select_for_update().filter(pk=reminder_id).first()
        if reminder is None or reminder.status != Reminder.Status.QUEUED:
            return "noop"
        booking = (
            Booking.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(pk=reminder.booking_id)
        )
        return "skipped" if _deliver(reminder, booking) else "sent"


def send_now(booking: Booking, *, actor: Actor, reason: str = "") -> Reminder:
    """A reminder sent by hand (admin "send reminder now"), with the urgency of the days left."""
    with transaction.atomic():
        locked = (
            Booking.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(pk=booking.pk)
        )
        now = clock.now()
        days_left = (
            locked.service_date - clock.local_today(locked.organization.timezone, now)
        ).days
        reminder = Reminder.objects.create(
            organization_id=locked.organization_id,
            booking=locked,
            kind=Reminder.Kind.MANUAL,
            threshold_days=None,
            urgency=urgency_for(days_left),
            status=Reminder.Status.QUEUED,
            due_at=now,
            created_at=now,
        )
        skipped = _deliver(reminder, locked)
        if skipped:
            raise StateConflict(f"No reminder sent: {skipped}.")
        audit.record(
            actor=actor,
            action="booking.reminder_sent",
            organization_id=locked.organization_id,
            obj=locked,
            reason=reason,
            after={"reminder": reminder.public_id, "payment_link": reminder.payment_link_id},
        )
    return reminder
