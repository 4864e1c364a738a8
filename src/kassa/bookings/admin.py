"""Admin for bookings: balances due with filters, payment links (copy, invalidate,
regenerate), reminders and their settings, a dashboard with recent payments, CSV export.
Every staff action goes through a service and is audited."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.decorators import action

from kassa.bookings import admin_dashboard, clock, links, reminders, services
from kassa.bookings.models import (
    Booking,
    BookingStatus,
    PaymentLink,
    Reminder,
    ReminderSettings,
)
from kassa.bookings.representations import link_url
from kassa.core.actors import Actor
from kassa.core.admin_actions import reason_action
from kassa.core.admin_base import MONEY_ROLES, OrgScopedAdmin, ReadOnlyAdmin, has_role, money
from kassa.core.admin_export import CsvExportMixin
from kassa.core.form_rules import InputRulesFormMixin
from kassa.payments.models import Payment

DUE_SOON_DAYS = 7


def _utc_today() -> dt.date:
    return clock.now().date()


class BalanceFilter(admin.SimpleListFilter):
    title = _("balance")
    parameter_name = "balance"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("due_soon", _("Due soon (within %(days)d days)") % {"days": DUE_SOON_DAYS}),
            ("overdue", _("Overdue (service date reached, unpaid)")),
            ("open", _("Balance due")),
            ("paid", _("Paid")),
            ("cancelled", _("Cancelled")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        today = _utc_today()
        open_ = {"cancelled_at__isnull": True, "paid__lt": F("total_amount")}
        value = self.value()
        if value == "due_soon":
            return queryset.filter(
                **open_,
                service_date__gt=today,
                service_date__lte=today + timedelta(days=DUE_SOON_DAYS),
            )
        if value == "overdue":
            return queryset.filter(**open_, service_date__lte=today)
        if value == "open":
            return queryset.filter(**open_)
        if value == "paid":
            return queryset.filter(cancelled_at__isnull=True, paid__gte=F("total_amount"))
        if value == "cancelled":
            return queryset.filter(cancelled_at__isnull=False)
        return queryset


def _send_now(booking: Booking, actor: Actor, reason: str) -> Reminder:
    return reminders.send_now(booking, actor=actor, reason=reason)


def _new_link(booking: Booking, actor: Actor, reason: str) -> PaymentLink:
    return links.create_link(booking, actor=actor, reason=reason)[0]


def _cancel(booking: Booking, actor: Actor, reason: str) -> Booking:
    return services.cancel_booking(booking, actor=actor, reason=reason)


class MoneyActionsMixin:
    def has_money_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request, MONEY_ROLES, None)


@admin.register(Booking)
class BookingAdmin(MoneyActionsMixin, CsvExportMixin, ReadOnlyAdmin):
    list_display = (
        "reference",
        "customer",
        "service_date",
        "total_display",
        "paid_display",
        "due_display",
        "status_badge",
        "organization",
    )
    list_filter = (BalanceFilter, "currency", ("service_date", RangeDateFilter), "livemode")
    search_fields = ("id", "reference", "customer__email", "customer__name", "description")
    ordering = ("service_date",)
    csv_fields = (
        "id",
        "reference",
        "customer",
        "service_date",
        "currency",
        "total_amount",
        "deposit_amount",
        "paid_amount",
        "balance_due",
        "status",
        "created_at",
        "paid_at",
        "cancelled_at",
    )
    readonly_fields = ("overview", "links_table", "reminders_table", "payments_table")
    fieldsets = (
        (None, {"fields": ("overview", "links_table", "reminders_table", "payments_table")}),
    )
    actions_list = ("export_csv", "dashboard")  # type: ignore[assignment]
    actions = [
        reason_action(
            "send_reminder_now",
            description=_("Send a reminder now"),
            service=_send_now,
            permission="money",
        ),
        reason_action(
            "new_payment_link",
            description=_("Make a new payment link (invalidates the current one)"),
            service=_new_link,
            permission="money",
        ),
        reason_action(
            "cancel_booking",
            description=_("Cancel booking"),
            service=_cancel,
            permission="money",
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: QuerySet[Any] = super().get_queryset(request)
        return queryset.with_amounts().select_related("customer", "organization")  # type: ignore[attr-defined]

    @admin.display(description=_("total"), ordering="total_amount")
    def total_display(self, booking: Booking) -> str:
        return money(booking.total_amount, booking.currency)

    @admin.display(description=_("paid"), ordering="paid")
    def paid_display(self, booking: Booking) -> str:
        return money(booking.paid_amount, booking.currency)

    @admin.display(description=_("balance due"), ordering="due")
    def due_display(self, booking: Booking) -> str:
        return money(booking.balance_due, booking.currency)

    @admin.display(description=_("status"), ordering="derived_status")
    def status_badge(self, booking: Booking) -> SafeString:
        css = {
            BookingStatus.PAID: "kassa-live",
            BookingStatus.CANCELLED: "kassa-test",
        }.get(BookingStatus(booking.status), "")
        return format_html(
            '<span class="kassa-badge {}" data-status="{}">{}</span>',
            css,
            booking.status,
            booking.get_status_display(),
        )

    @admin.display(description=_("Booking"))
    def overview(self, booking: Booking) -> SafeString:
        return format_html(
            "<p><b>{}</b> · {} · {} · {}</p><p>{}: {} · {}: {} · {}: {}</p>",
            booking.reference,
            booking.id,
            booking.customer,
            booking.service_date.isoformat(),
            _("total"),
            money(booking.total_amount, booking.currency),
            _("paid"),
            money(booking.paid_amount, booking.currency),
            _("balance due"),
            money(booking.balance_due, booking.currency),
        )

    @admin.display(description=_("Payment links"))
    def links_table(self, booking: Booking) -> SafeString:
        now = clock.now()
        rows = (
            (
                reverse("admin:bookings_paymentlink_change", args=[link.pk]),
                link.id,
                link.state(now),
                link.expires_at.isoformat(timespec="minutes"),
            )
            for link in booking.payment_links.order_by("-id")
        )
        return format_html_join(
            "", '<div><a href="{}">{}</a> · {} · {}</div>', rows
        ) or format_html("{}", "—")

    @admin.display(description=_("Reminders"))
    def reminders_table(self, booking: Booking) -> SafeString:
        rows = (
            (
                f"−{r.threshold_days}d" if r.threshold_days is not None else _("by hand"),
                r.get_urgency_display(),
                r.get_status_display(),
                r.sent_at.isoformat(timespec="minutes") if r.sent_at else r.skip_reason,
            )
            for r in booking.reminders.order_by("id")
        )
        return format_html_join("", "<div>{} · {} · {} · {}</div>", rows) or format_html("{}", "—")

    @admin.display(description=_("Payments"))
    def payments_table(self, booking: Booking) -> SafeString:
        payments = Payment.objects.filter(purpose="booking", purpose_id=booking.id).order_by("id")
        rows = (
            (
                reverse("admin:payments_payment_change", args=[p.pk]),
                p.id,
                p.get_status_display(),
                money(p.amount, p.currency),
            )
            for p in payments
        )
        return format_html_join(
            "", '<div><a href="{}">{}</a> · {} · {}</div>', rows
        ) or format_html("{}", "—")

    @action(description=_("Dashboard"), url_path="dashboard", icon="monitoring")
    def dashboard(self, request: HttpRequest) -> HttpResponse:
        return self.dashboard_view(request)

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        from kassa.core.admin_base import organization_ids

        scope = None if request.user.is_superuser else organization_ids(request)
        recent = Payment.objects.filter(purpose="booking").select_related("customer")
        if scope is not None:
            recent = recent.filter(organization_id__in=scope)
        payments = list(recent.order_by("-id")[:20])
        references = dict(
            Booking.objects.filter(pk__in={p.purpose_id for p in payments}).values_list(
                "id", "reference"
            )
        )
        # Each row opens the payment's admin page, its customer's and its booking's.
        recent_rows = [
            {
                "id": p.id,
                "url": reverse("admin:payments_payment_change", args=[p.pk]),
                "created": p.created_at,
                "status": p.get_status_display(),
                "amount": money(p.amount, p.currency),
                "customer": p.customer,
                "customer_url": reverse("admin:customers_customer_change", args=[p.customer_id])
                if p.customer_id
                else "",
                "booking": p.purpose_id,
                "booking_reference": references.get(p.purpose_id, p.purpose_id),
                "booking_url": reverse("admin:bookings_booking_change", args=[p.purpose_id])
                if p.purpose_id in references
                else "",
            }
            for p in payments
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Bookings dashboard"),
            "cards": admin_dashboard.cards(scope),
            "recent": recent_rows,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/bookings/dashboard.html", context)


class LinkStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    STATES = (
        ("active", _("Active")),
        ("used", _("Used")),
        ("expired", _("Expired")),
        ("invalidated", _("Invalidated")),
    )

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(self.STATES)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = clock.now()
        value = self.value()
        if value == "active":
            return queryset.filter(status=PaymentLink.Status.ACTIVE, expires_at__gt=now)
        if value == "expired":
            return queryset.filter(status=PaymentLink.Status.ACTIVE, expires_at__lte=now)
        if value in ("used", "invalidated"):
            return queryset.filter(status=value)
        return queryset


def _invalidate(link: PaymentLink, actor: Actor, reason: str) -> PaymentLink:
    return links.invalidate_link(link, actor=actor, reason=reason)


def _regenerate(link: PaymentLink, actor: Actor, reason: str) -> PaymentLink:
    return links.regenerate_link(link, actor=actor, reason=reason)[0]


@admin.register(PaymentLink)
class PaymentLinkAdmin(MoneyActionsMixin, CsvExportMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "booking",
        "amount_display",
        "state_badge",
        "expires_at",
        "created_at",
        "used_at",
        "copy_url",
    )
    list_filter = (LinkStateFilter, ("created_at", RangeDateFilter))
    search_fields = ("id", "booking__reference", "booking__id", "payment__id")
    csv_fields = (
        "id",
        "booking",
        "amount",
        "currency",
        "status",
        "expires_at",
        "created_at",
        "used_at",
        "invalidated_at",
        "payment",
    )
    readonly_fields = (
        "id",
        "booking",
        "amount",
        "currency",
        "state_badge",
        "copy_url",
        "expires_at",
        "payment",
        "created_at",
        "used_at",
        "invalidated_at",
        "invalidation_reason",
    )
    exclude = ("token_hash", "token_salt", "status", "organization")
    actions = [
        reason_action(
            "invalidate",
            description=_("Invalidate"),
            service=_invalidate,
            permission="money",
        ),
        reason_action(
            "regenerate",
            description=_("Regenerate (a new link; this one stops working)"),
            service=_regenerate,
            permission="money",
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("booking")

    @admin.display(description=_("amount"))
    def amount_display(self, link: PaymentLink) -> str:
        if link.amount is None:
            return str(_("balance due"))
        return money(link.amount, link.currency)

    @admin.display(description=_("state"))
    def state_badge(self, link: PaymentLink) -> SafeString:
        state = link.state(clock.now())
        label = dict(LinkStateFilter.STATES).get(state, state)
        return format_html('<span class="kassa-badge" data-state="{}">{}</span>', state, label)

    @admin.display(description=_("URL"))
    def copy_url(self, link: PaymentLink) -> SafeString:
        if link.state(clock.now()) != "active":
            return format_html("{}", "—")
        url = link_url(link)
        if url is None:
            return format_html("{}", _("cannot be re-made (secret key changed); regenerate"))
        # The admin's policy allows inline handlers (unfold needs them too).
        return format_html(
            '<span class="kassa-copy"><input type="text" readonly value="{}" size="24"'
            ' onclick="this.select()" aria-label="{}">'
            ' <button type="button" onclick="navigator.clipboard.writeText(this'
            ".previousElementSibling.value);this.textContent='{}'\">{}</button></span>",
            url,
            _("Payment link URL"),
            _("Copied"),
            _("Copy"),
        )


@admin.register(Reminder)
class ReminderAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = (
        "booking",
        "kind",
        "threshold_days",
        "urgency",
        "status",
        "due_at",
        "sent_at",
        "payment_link",
        "skip_reason",
    )
    list_filter = ("status", "kind", "urgency", ("due_at", RangeDateFilter))
    search_fields = ("booking__reference", "booking__id")
    readonly_fields = [f.name for f in Reminder._meta.fields]


class ReminderSettingsForm(InputRulesFormMixin, forms.ModelForm):
    class Meta:
        model = ReminderSettings
        fields = ("organization", "enabled", "thresholds", "send_time")

    def clean_thresholds(self) -> list[int]:
        from kassa.core.errors import KassaError

        try:
            return reminders.validate_thresholds(self.cleaned_data.get("thresholds"))
        except KassaError as exc:
            raise forms.ValidationError(exc.message) from None


@admin.register(ReminderSettings)
class ReminderSettingsAdmin(OrgScopedAdmin):
    form = ReminderSettingsForm
    list_display = ("organization", "enabled", "thresholds", "send_time", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("organization",) if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        saved = reminders.update_settings(
            data.get("organization") or obj.organization,
            actor=Actor.for_staff(request),
            thresholds=data["thresholds"],
            send_time=data["send_time"],
            enabled=data["enabled"],
        )
        obj.pk = saved.pk
