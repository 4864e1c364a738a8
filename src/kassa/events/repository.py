"""The events app's repository: its SQL text and the choices by database, for its hot rows (the
event written with every change, the deliveries every dispatcher claims).

- `insert_event`: on PostgreSQL's fast path a deferred write (`kassa.platform.fastdb`: it goes
  out with the transaction's next statement or its COMMIT); otherwise the ORM's INSERT. Both
  send `pre_save` and `post_save` as `save()` does.
- `claim_due`: on PostgreSQL one statement picks the due deliveries (SKIP LOCKED: dispatchers
  never wait for each other), leases them and returns everything needed to sign and send them;
  elsewhere the ORM picks candidates and a guarded UPDATE leases them (without row locks two
  dispatchers may pick the same candidates, and only one of them wins each row). The PostgreSQL
  statement runs through Django's cursor, so it is the same with the fast path on or off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from kassa.events.models import DeliveryStatus, EndpointStatus, Event, WebhookDelivery
from kassa.platform import fastdb, pg


def insert_event(event: Event) -> None:
    """INSERT a new event (its id minted in Python) in the caller's transaction."""
    if fastdb.active():
        fastdb.insert(event, defer=True)
    else:
        event.save(force_insert=True)


@dataclass
class Claimed:
    """A delivery leased to a dispatcher, with what signing and sending it needs."""

    delivery_id: str
    endpoint_id: str
    organization_id: str
    attempt_count: int
    url: str
    secret_encrypted: str
    previous_secret_encrypted: str
    previous_secret_expires_at: datetime | None
    endpoint_failing: bool
    event_id: str
    event_type: str
    event_created_at: datetime
    # The event's `data`: a JSON text from PostgreSQL's single-statement claim, else a dict.
    event_data: str | dict[str, Any]


def claim_due(token: str, *, now: datetime, until: datetime, limit: int) -> list[Claimed]:
    """Lease up to `limit` due deliveries (pending, due by `now`, of an enabled endpoint, not
    leased or leased until before `now`), oldest due first, to `token` until `until`, in a
    transaction of their own (committed on return); the deliveries leased."""
    if pg.is_postgresql():
        return _claim_postgresql(token, now, until, limit)
    return _claim_portable(token, now, until, limit)


_CLAIM_SQL = """
WITH due AS (
    SELECT d.id FROM events_webhookdelivery d
    JOIN events_webhookendpoint e ON e.id = d.endpoint_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= %(now)s AND e.status = 'enabled'
      AND (d.lease_expires_at IS NULL OR d.lease_expires_at < %(now)s)
    ORDER BY d.next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE events_webhookdelivery d
SET lease_owner = %(token)s, lease_expires_at = %(until)s
FROM due, events_webhookendpoint e, events_event ev
WHERE d.id = due.id AND e.id = d.endpoint_id AND ev.id = d.event_id
RETURNING d.id, d.endpoint_id, d.organization_id, d.attempt_count, e.url, e.secret_encrypted,
    e.previous_secret_encrypted, e.previous_secret_expires_at, e.failing_since IS NOT NULL,
    ev.id, ev.type, ev.created_at, ev.data::text
"""


def _claim_postgresql(token: str, now: datetime, until: datetime, limit: int) -> list[Claimed]:
    params: dict[str, Any] = {"now": now, "limit": limit, "token": token, "until": until}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, params)
        return [Claimed(*row) for row in cursor.fetchall()]


def _due(now: datetime) -> Any:
    return WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING,
        next_attempt_at__lte=now,
        endpoint__status=EndpointStatus.ENABLED,
    ).filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))


def _claim_portable(token: str, now: datetime, until: datetime, limit: int) -> list[Claimed]:
    with transaction.atomic():
        candidates = _due(now).order_by("next_attempt_at")
        ids = list(candidates.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        # The lease condition is checked again by the UPDATE: without row locks (SQLite) two
        # dispatchers may pick the same candidates, and only one of them wins each row.
        _due(now).filter(id__in=ids).update(lease_owner=token, lease_expires_at=until)
    rows = WebhookDelivery.objects.filter(lease_owner=token, id__in=ids).values_list(
        "id",
        "endpoint_id",
        "organization_id",
        "attempt_count",
        "endpoint__url",
        "endpoint__secret_encrypted",
        "endpoint__previous_secret_encrypted",
        "endpoint__previous_secret_expires_at",
        "endpoint__failing_since",
        "event_id",
        "event__type",
        "event__created_at",
        "event__data",
    )
    claimed = []
    for row in rows:
        values = list(row)
        values[8] = values[8] is not None
        claimed.append(Claimed(*values))
    return claimed
