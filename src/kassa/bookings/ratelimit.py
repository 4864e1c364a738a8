"""A fixed-window rate limiter kept in the database (every node counts together, no cache
server needed). One UPSERT per request (`kassa.bookings.repository.count_hit`): insert the
window's row or add one to it."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

from django.db import transaction

from kassa.bookings import clock, repository
from kassa.bookings.models import RateLimitCounter


def hit(key: str, *, window: timedelta, cost: int = 1) -> int:
    """Count `cost` requests for `key` in the current window; return the window's total."""
    now = clock.now()
    seconds = int(window.total_seconds())
    start = dt.datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=dt.UTC)
    with transaction.atomic():
        return repository.count_hit(key[:200], start, cost)


def count(key: str, *, window: timedelta) -> int:
    now = clock.now()
    seconds = int(window.total_seconds())
    start = dt.datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=dt.UTC)
    row = RateLimitCounter.objects.filter(key=key[:200], window_start=start).first()
    return row.count if row else 0


def prune(older_than: timedelta = timedelta(hours=2)) -> int:
    deleted, _ = RateLimitCounter.objects.filter(window_start__lt=clock.now() - older_than).delete()
    return deleted
