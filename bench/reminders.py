"""The reminder scan on PostgreSQL with a million bookings.

    .venv/bin/python bench/reminders.py [--bookings 1000000] [--database-url postgresql://postgres@127.0.0.1/kassa_bench_reminders]

Creates (and at the end drops) its own database with one organization (Asia/Tashkent, the
default 7/3/1 schedule at 09:00), `--bookings` bookings with service dates spread evenly over
the next 365 days (loaded with COPY), 5 % of them paid in full through the ledger. A first
scan, one day earlier, brings the reminders up to date (it also catches up everything "missed"
before); then the measured scan runs at 09:00 the next day and must find and enqueue that
day's due reminders (thresholds 7, 3 and 1 of three service dates: about 1/120 of all
bookings) in at most 10 s, each exactly once. A repeated scan must find nothing. Prints JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(__file__))
from _server import fastpath_mode
from ledger import _admin_connect, _django

LIMIT_SECONDS = 10.0
PAID_SHARE = 20  # one booking in 20 is paid in full


def setup(url: str, count: int, start: dt.date) -> dict[str, Any]:
    name = urlsplit(url).path.lstrip("/")
    with _admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    _django(url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from kassa.bookings.ledger import booking_account, manual_clearing
    from kassa.bookings.models import Booking
    from kassa.core.actors import Actor
    from kassa.core.ids import new_id
    from kassa.core.services import create_organization
    from kassa.customers.models import Customer
    from kassa.ledger import services as ledger
    from kassa.ledger.models import LedgerAccount

    org = create_organization(
        name="Bench Tours", actor=Actor.system("bench"), timezone_name="Asia/Tashkent"
    )
    customers = Customer.objects.bulk_create(
        [Customer(organization=org, email=f"c{i}@example.com", locale="ru") for i in range(1000)]
    )
    created = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    started = time.perf_counter()
    paid_ids: list[str] = []
    columns = (
        "id, organization_id, livemode, customer_id, reference, service_date, description,"
        " total_amount, currency, deposit_amount, metadata, created_at, updated_at,"
        " cancellation_reason"
    )
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY bookings_booking ({columns}) FROM STDIN") as copy,
    ):
        for i in range(count):
            booking_id = new_id("bk")
            if i % PAID_SHARE == 0:
                paid_ids.append(booking_id)
            copy.write_row(
                (
                    booking_id,
                    org.id,
                    False,
                    customers[i % len(customers)].id,
                    f"B{i:07d}",
                    start + dt.timedelta(days=i % 365),
                    "",
                    1_000_00,
                    "UZS",
                    0,
                    "{}",
                    created,
                    created,
                    "",
                )
            )
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    first = Booking.objects.get(pk=paid_ids[0])
    clearing = manual_clearing(first)
    booking_account(first)  # the rest in one statement
    LedgerAccount.objects.bulk_create(
        [
            LedgerAccount(
                organization=org,
                kind="booking",
                owner_id=booking_id,
                currency="UZS",
                name=f"Booking {booking_id}",
                min_balance=0,
            )
            for booking_id in paid_ids[1:]
        ],
        batch_size=5000,
    )
    accounts = dict(
        LedgerAccount.objects.filter(organization=org, kind="booking").values_list("owner_id", "id")
    )
    for offset in range(0, len(paid_ids), 1000):
        ledger.post_batch(
            org.id,
            [
                ledger.transfer(
                    kind="bench_payment",
                    idempotency_key=f"{booking_id}:bench",
                    source=clearing,
                    destination=accounts[booking_id],
                    amount=1_000_00,
                )
                for booking_id in paid_ids[offset : offset + 1000]
            ],
        )
    paid_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "org": org.id,
        "load_seconds": round(loaded, 1),
        "paid": len(paid_ids),
        "paid_seconds": round(paid_seconds, 1),
    }


def expected_due(org_id: str, today: dt.date) -> int:
    """Counted independently: open bookings on the three service dates due today."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM bookings_booking b LEFT JOIN ledger_account a"
            " ON a.organization_id = b.organization_id AND a.kind = 'booking'"
            " AND a.owner_id = b.id AND a.currency = b.currency"
            " WHERE b.organization_id = %s AND b.service_date IN (%s, %s, %s)"
            " AND COALESCE(a.balance, 0) < b.total_amount",
            [
                org_id,
                today + dt.timedelta(days=1),
                today + dt.timedelta(days=3),
                today + dt.timedelta(days=7),
            ],
        )
        return int(cursor.fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "KASSA_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/kassa_bench_reminders"
        ),
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    start = dt.date(2027, 1, 1)
    info = setup(args.database_url, args.bookings, start)

    from django_tasks_db.models import DBTaskResult

    from kassa.bookings import reminders
    from kassa.bookings.models import Reminder

    # 09:00 in Tashkent (04:00 UTC) on the day before the first service date, then a day later.
    warm_at = dt.datetime(2026, 12, 31, 4, 0, tzinfo=dt.UTC)
    started = time.perf_counter()
    warm = reminders.scan(now=warm_at)
    warm_seconds = time.perf_counter() - started
    DBTaskResult.objects.all().delete()

    now = warm_at + dt.timedelta(days=1)
    today = now.date()
    expected = expected_due(info["org"], today)
    started = time.perf_counter()
    queued = reminders.scan(now=now)
    scan_seconds = time.perf_counter() - started
    started = time.perf_counter()
    again = reminders.scan(now=now)
    repeat_seconds = time.perf_counter() - started

    enqueued = Counter(
        pk
        for row in DBTaskResult.objects.filter(task_path__endswith="send_reminders").values_list(
            "args_kwargs", flat=True
        )
        for pk in row["args"][0]
    )
    inserted_today = Reminder.objects.filter(created_at=now).count()
    ok = (
        scan_seconds <= LIMIT_SECONDS
        and len(queued) == expected
        and len(set(queued)) == len(queued)
        and set(enqueued) == set(queued)
        and set(enqueued.values()) == {1}
        and again == []
    )
    load = os.getloadavg()
    result = {
        "benchmark": "reminders.scan",
        "bookings": args.bookings,
        "service_dates": "365 days from 2027-01-01",
        "setup": info,
        "warm_up_scan": {"reminders_queued": len(warm), "seconds": round(warm_seconds, 2)},
        "scan": {
            "due_day": today.isoformat(),
            "expected_due": expected,
            "share_of_bookings": f"1/{round(args.bookings / expected) if expected else 0}",
            "inserted": inserted_today,
            "queued": len(queued),
            "enqueued_tasks": DBTaskResult.objects.filter(
                task_path__endswith="send_reminders"
            ).count(),
            "each_enqueued_once": set(enqueued) == set(queued) and set(enqueued.values()) == {1},
            "seconds": round(scan_seconds, 3),
            "limit_seconds": LIMIT_SECONDS,
        },
        "repeat_scan": {"queued": len(again), "seconds": round(repeat_seconds, 3)},
        "ok": ok,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in load],
            "db_fastpath": fastpath_mode(),
        },
    }
    print(json.dumps(result, indent=2))
    if not args.keep:
        from django.db import connections

        connections.close_all()
        name = urlsplit(args.database_url).path.lstrip("/")
        with _admin_connect(args.database_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
