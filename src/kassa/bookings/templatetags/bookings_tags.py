"""Template helpers for booking emails and pay pages: amounts and dates in the current
language, and a payment link's URL re-made from its id (emails never store it)."""

from __future__ import annotations

import datetime as dt

from babel.dates import format_date
from django import template
from django.utils import translation

from kassa.bookings.models import PaymentLink
from kassa.bookings.representations import link_url
from kassa.core import localtime
from kassa.core.money import format_money

register = template.Library()


def _locale() -> str:
    return (translation.get_language() or "en").split("-")[0]


@register.filter
def money(amount: int | None, currency: str) -> str:
    if amount is None:
        return ""
    return format_money(int(amount), currency, _locale())


@register.filter
def long_date(value: str | dt.date | None) -> str:
    if not value:
        return ""
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    try:
        return format_date(day, format="long", locale=_locale())
    except (ValueError, LookupError):
        return day.isoformat()


@register.simple_tag
def local_datetime(value: dt.datetime | None, zone_name: str | None) -> str:
    """A moment on the organization's wall clock, in the current language."""
    return localtime.local_datetime(value, zone_name, _locale()) if value else ""


@register.simple_tag
def zone_label(value: dt.datetime | None, zone_name: str | None) -> str:
    """The name of the organization's time zone at that moment, in the current language."""
    return localtime.zone_label(value, zone_name, _locale()) if value else ""


@register.simple_tag
def pay_link_url(link_id: str) -> str:
    link = PaymentLink.objects.filter(pk=link_id).first()
    return (link_url(link) or "") if link is not None else ""
