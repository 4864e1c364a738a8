"""A fixed-window rate limiter kept in the database (every node counts together, no cache
server needed). One UPSERT per request (`kassa.bookings.repository.count_hit`): insert the
window's row or add one to it."""

from __future__ import annotations

import datetime as dt
import math
from datetime import timedelta

from django.db import transaction

from kassa.bookings import clock, repository
from kassa.bookings.models import RateLimitCounter


def _window_start(now: dt.datetime, window: timedelta) -> dt.datetime:
    seconds = int(window.total_seconds())
    return dt.datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=dt.UTC)


def hit(key: str, *, window: timedelta, cost: int = 1) -> int:
    """Count `cost` requests for `key` in the current window; return the window's total."""
    start = _window_start(clock.now(), window)
    with transaction.atomic():
        return repository.count_hit(key[:200], start, cost)


def seconds_left(*, window: timedelta) -> int:
    """Whole seconds until the current window ends (at least 1): a 429's Retry-After."""
    now = clock.now()
    end = _window_start(now, window) + window
    return max(1, math.ceil((end - now).total_seconds()))


def prune(older_than: timedelta = timedelta(hours=2)) -> int:
    deleted, _ = RateLimitCounter.objects.filter(window_start__lt=clock.now() - older_than).delete()
    return deleted
