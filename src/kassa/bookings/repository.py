"""The bookings app's repository: its SQL text and the choices by database, for its hot rows
(the pay pages' rate-limit counters, the reminder scan over every booking).

- `count_hit`: one UPSERT per request (SQLite and PostgreSQL alike) that inserts a window's
  counter or adds to it, and returns the new count.
- `reminder_scan`: the statements of one reminder scan (`kassa.bookings.reminders.scan` decides
  which to run). Scans are serialized: on PostgreSQL by a transaction-level advisory lock,
  on SQLite by its one writer at a time. Each `insert_due` is one INSERT ... SELECT ...
  ON CONFLICT DO NOTHING RETURNING, so only the scan that inserted a reminder gets it back. On
  PostgreSQL the scan also keeps the planner's statistics of the reminder table fresh
  (`_refresh_statistics`).

Every statement runs through Django's cursor, in the caller's transaction; nothing here uses
the fast path, so it is the same with `KASSA_DB_FASTPATH` on or off. Every value is a bound
parameter; only quoted table names are formatted in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection

from kassa.bookings.models import BOOKING_ACCOUNT_KIND, Booking, RateLimitCounter, Reminder
from kassa.ledger.models import LedgerAccount
from kassa.platform import pg

# Rows a scan inserts (or the table changes by) before the planner's statistics are refreshed.
ANALYZE_AFTER = 5000
# Any constant shared by every scanner: the key of the PostgreSQL advisory lock.
_SCAN_LOCK_KEY = 0x6B617373_0001


def count_hit(key: str, window_start: dt.datetime, cost: int) -> int:
    """Add `cost` to the counter of (`key`, `window_start`), created at `cost` if missing; the
    counter's new value."""
    table = connection.ops.quote_name(RateLimitCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            # The quoted table name is the only formatted part; values are parameters.
            f"INSERT INTO {table} (key, window_start, count) VALUES (%s, %s, %s)"  # noqa: S608
            " ON CONFLICT (key, window_start) DO UPDATE SET count = "
            f"{table}.count + excluded.count RETURNING count",
            [key, connection.ops.adapt_datetimefield_value(window_start), cost],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else cost


def _insert_sql(org_count: int) -> str:
    q = connection.ops.quote_name
    reminder = q(Reminder._meta.db_table)
    booking = q(Booking._meta.db_table)
    account = q(LedgerAccount._meta.db_table)
    orgs = ", ".join(["%s"] * org_count)
    # Only quoted table names and placeholders are formatted in; every value is a parameter.
    return (
        f"INSERT INTO {reminder} (organization_id, booking_id, kind, threshold_days, urgency,"  # noqa: S608
        " status, skip_reason, due_at, notification_id, created_at)"
        " SELECT b.organization_id, b.id, 'scheduled', %s, %s, 'queued', '', %s, '', %s"
        f" FROM {booking} b"
        f" WHERE b.organization_id IN ({orgs}) AND b.service_date = %s"
        " AND b.cancelled_at IS NULL AND b.created_at < %s"
        # A scalar subquery: one index probe per booking of the day, however many accounts.
        f" AND COALESCE((SELECT a.balance FROM {account} a"
        " WHERE a.organization_id = b.organization_id"
        f" AND a.kind = '{BOOKING_ACCOUNT_KIND}' AND a.owner_id = b.id"
        " AND a.currency = b.currency), 0) < b.total_amount"
        f" AND NOT EXISTS (SELECT 1 FROM {reminder} r WHERE r.booking_id = b.id"
        " AND r.threshold_days = %s)"
        " ON CONFLICT DO NOTHING RETURNING id, booking_id"
    )


def _refresh_statistics(cursor: Any, force: bool = False) -> None:
    """PostgreSQL plans the scan's anti-join by the reminder table's statistics; on a table
    that was never analyzed, or grew a lot since (a big catch-up), it may pick a scan per row.
    Refresh them then (ANALYZE samples a bounded number of rows and sees this transaction's
    own inserts); otherwise autovacuum keeps them current."""
    table = Reminder._meta.db_table
    if not force:
        cursor.execute(
            "SELECT s.last_analyze IS NULL AND s.last_autoanalyze IS NULL,"
            " s.n_mod_since_analyze, c.reltuples"
            " FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
            " WHERE s.relname = %s",
            [table],
        )
        row = cursor.fetchone()
        if row is None:
            return
        never, modified, tuples = row
        if not never and modified <= max(ANALYZE_AFTER, 0.2 * max(tuples, 0)):
            return
    cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


class ReminderScan:
    """The statements of one scan, on one cursor (see `reminder_scan`)."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._postgres = pg.is_postgresql()
        self._since_analyze = 0
        self._statements: dict[int, str] = {}
        if self._postgres:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SCAN_LOCK_KEY])
            _refresh_statistics(cursor)

    def insert_due(
        self,
        organization_ids: Sequence[str],
        *,
        threshold: int,
        urgency: str,
        due: dt.datetime,
        now: dt.datetime,
        service_date: dt.date,
    ) -> list[tuple[int, str]]:
        """Insert a queued reminder for `threshold` days, due at `due`, for every booking of
        these organizations on `service_date` that was made before `due`, is not cancelled,
        not paid in full and has no reminder for this threshold yet; (reminder id, booking id)
        of each inserted."""
        ops = connection.ops
        count = len(organization_ids)
        statement = self._statements.get(count)
        if statement is None:
            statement = self._statements[count] = _insert_sql(count)
        due_db = ops.adapt_datetimefield_value(due)
        self._cursor.execute(
            statement,
            [
                threshold,
                urgency,
                due_db,
                ops.adapt_datetimefield_value(now),
                *organization_ids,
                ops.adapt_datefield_value(service_date),
                due_db,
                threshold,
            ],
        )
        returned = [(int(pk), str(booking_id)) for pk, booking_id in self._cursor.fetchall()]
        if self._postgres:
            self._since_analyze += len(returned)
            if self._since_analyze > ANALYZE_AFTER:
                _refresh_statistics(self._cursor, force=True)
                self._since_analyze = 0
        return returned


@contextmanager
def reminder_scan() -> Iterator[ReminderScan]:
    """Begin a scan inside the caller's transaction: wait for any other scan to end (the lock
    is held until the transaction ends), refresh stale statistics; its statements."""
    with connection.cursor() as cursor:
        yield ReminderScan(cursor)
