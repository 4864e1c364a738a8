"""The time bookings read. Tests move it by replacing `now`; everything time-dependent in
this app (link expiry, reminder due times, "is the service date ahead") asks here."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.utils import timezone

from kassa.core.errors import DateOutOfRange


def now() -> dt.datetime:
    return timezone.now()


def local_today(tz_name: str, at: dt.datetime | None = None) -> dt.date:
    return (at or now()).astimezone(ZoneInfo(tz_name)).date()


def local_moment(day: dt.date, time: dt.time, tz_name: str) -> dt.datetime:
    """`time` on `day` in the zone, as an aware datetime in UTC. A wall time skipped by a DST
    change is read with the offset before the change (zoneinfo's fold=0), so it still exists."""
    local = dt.datetime.combine(day, time).replace(tzinfo=ZoneInfo(tz_name))
    try:
        return local.astimezone(dt.UTC)
    except OverflowError:  # a date stored before the range rule (decision 036)
        raise DateOutOfRange(f"{day.isoformat()} is outside the dates Kassa handles.") from None


def start_of_day(day: dt.date, tz_name: str) -> dt.datetime:
    return local_moment(day, dt.time(0, 0), tz_name)
