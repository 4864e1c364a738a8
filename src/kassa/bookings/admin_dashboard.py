"""Figures for the admin: outstanding balances, money collected this week and month,
reminders sent and link conversion, for the organizations a staff user belongs to."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kassa.bookings import clock
from kassa.bookings.models import Booking, PaymentLink, Reminder
from kassa.core.admin_base import money
from kassa.core.admin_dashboard import register_cards as register_provider
from kassa.payments.models import Payment, PaymentStatus


def _scoped[Q_: QuerySet[Any]](queryset: Q_, scope: list[str] | None) -> Q_:
    return queryset if scope is None else queryset.filter(organization_id__in=scope)


def _per_currency(rows: Any) -> str:
    parts = [money(int(amount or 0), currency) for currency, amount in rows if amount]
    return " · ".join(parts) or "0"


def _week_start(now: dt.datetime) -> dt.datetime:
    day = now.date() - timedelta(days=now.weekday())
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)


def _month_start(now: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(now.date().replace(day=1), dt.time(0, 0), tzinfo=dt.UTC)


def figures(scope: list[str] | None) -> dict[str, Any]:
    now = clock.now()
    outstanding: dict[str, int] = defaultdict(int)
    open_bookings = _scoped(Booking.objects.open(), scope)
    for currency, due in open_bookings.values_list("currency").annotate(s=Sum(F("due"))):
        outstanding[currency] += int(due or 0)
    paid = _scoped(Payment.objects.filter(purpose="booking", status=PaymentStatus.SUCCEEDED), scope)

    def collected(since: dt.datetime) -> list[tuple[str, int]]:
        rows = (
            paid.filter(succeeded_at__gte=since).values_list("currency").annotate(s=Sum("amount"))
        )
        return [(c, int(s or 0)) for c, s in rows]

    month_ago = now - timedelta(days=30)
    reminders_sent = _scoped(
        Reminder.objects.filter(status=Reminder.Status.SENT, sent_at__gte=month_ago), scope
    ).count()
    made = _scoped(PaymentLink.objects.filter(created_at__gte=month_ago), scope).aggregate(
        total=Count("id"), used=Count("id", filter=Q(status=PaymentLink.Status.USED))
    )
    conversion = (100 * made["used"] / made["total"]) if made["total"] else None
    return {
        "outstanding": sorted(outstanding.items()),
        "open_bookings": open_bookings.count(),
        "collected_week": collected(_week_start(now)),
        "collected_month": collected(_month_start(now)),
        "reminders_sent_30d": reminders_sent,
        "links_made_30d": made["total"],
        "links_used_30d": made["used"],
        "link_conversion": conversion,
    }


def cards(scope: list[str] | None) -> list[dict[str, Any]]:
    data = figures(scope)
    conversion = data["link_conversion"]
    open_bookings = data["open_bookings"]
    made = data["links_made_30d"]
    # Every card opens the bookings dashboard (docs/bookings.md, "Admin").
    link = reverse("admin:bookings_booking_dashboard")
    return [
        {
            "title": _("Outstanding booking balances"),
            "value": _per_currency(data["outstanding"]),
            "hint": ngettext(
                "%(count)d booking with a balance due",
                "%(count)d bookings with a balance due",
                open_bookings,
            )
            % {"count": open_bookings},
            "link": link,
        },
        {
            "title": _("Collected for bookings this week"),
            "value": _per_currency(data["collected_week"]),
            "hint": _("This month: %(amount)s")
            % {"amount": _per_currency(data["collected_month"])},
            "link": link,
        },
        {
            "title": _("Reminders sent (30 days)"),
            "value": str(data["reminders_sent_30d"]),
            "hint": "",
            "link": link,
        },
        {
            "title": _("Payment link conversion (30 days)"),
            "value": "—" if conversion is None else f"{conversion:.0f} %",
            "hint": ngettext(
                "%(used)d of %(made)d link paid",
                "%(used)d of %(made)d links paid",
                made,
            )
            % {"used": data["links_used_30d"], "made": made},
            "link": link,
        },
    ]


def register_cards() -> None:
    register_provider(cards)
