"""Times as a customer reads them: in the organization's time zone and the page's language.

Times are stored in UTC (and the API shows them so); a page for a person shows the wall clock
of the business it deals with, named, so "valid until 23:30 (Uzbekistan Standard Time)" means
what it says wherever the reader is.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from babel.dates import format_date, format_time, get_timezone_name


def zone(name: str | None) -> dt.tzinfo:
    """The named IANA zone; UTC for an empty or unknown name (never an error on a page)."""
    try:
        return zoneinfo.ZoneInfo(name) if name else dt.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def local_datetime(value: dt.datetime, zone_name: str | None, locale: str) -> str:
    """`value` on the zone's wall clock, long date and short time: "December 20, 2026, 11:30 PM"
    in English, "20. Dezember 2026, 23:30" in German."""
    local = value.astimezone(zone(zone_name))
    try:
        day = format_date(local, "long", locale=locale)
        return f"{day}, {format_time(local, 'short', locale=locale)}"
    except (ValueError, LookupError):
        return local.strftime("%Y-%m-%d %H:%M")


def zone_label(value: dt.datetime, zone_name: str | None, locale: str) -> str:
    """The zone's name in the reader's language at `value` ("Uzbekistan Standard Time",
    "Usbekische Normalzeit"); summer and winter time are told apart."""
    local = value.astimezone(zone(zone_name))
    try:
        return str(get_timezone_name(local, locale=locale))
    except (ValueError, LookupError):
        return zone_name or "UTC"
