"""Admin: the event browser, webhook endpoints (enable, disable, ping, redeliver failed events
since a time) and deliveries with their attempts (filters, redeliver)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import RangeDateTimeFilter

from kassa.core.actors import Actor
from kassa.core.admin_base import WRITE_ROLES, OrgScopedAdmin, ReadOnlyAdmin, has_role
from kassa.core.errors import KassaError
from kassa.core.form_rules import InputRulesFormMixin
from kassa.events import webhooks
from kassa.events.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint


class DeliveryInline(TabularInline):
    model = WebhookDelivery
    fk_name = "event"
    fields = ("id", "endpoint", "status", "attempt_count", "last_status_code", "next_attempt_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "object_id", "created_at", "organization")
    list_filter = ("type", ("created_at", RangeDateTimeFilter))
    search_fields = ("id", "object_id", "type")
    readonly_fields = ("id", "organization", "type", "object_id", "data", "created_at")
    inlines = [DeliveryInline]


def _report(modeladmin: admin.ModelAdmin, request: HttpRequest, label: Any, done: int) -> None:
    if done:
        modeladmin.message_user(
            request, _("%(action)s: %(count)d done.") % {"action": label, "count": done}
        )


class SinceForm(InputRulesFormMixin, forms.Form):
    since = forms.DateTimeField(
        label=_("Failed since"),
        help_text=_("Events created at or after this time whose delivery failed are sent again."),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(OrgScopedAdmin):
    list_display = ("id", "url", "status", "disabled_reason", "livemode", "failing_since")
    list_filter = ("status", "livemode", "disabled_reason")
    search_fields = ("id", "url", "description")
    fields = (
        "id",
        "organization",
        "url",
        "description",
        "enabled_events",
        "status",
        "disabled_reason",
        "livemode",
        "failing_since",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    actions = ["enable", "disable", "send_test", "redeliver_failed_since"]

    # Endpoints are created through the API (the secret is shown to the caller once); the
    # admin changes them only through the actions below, each audited.
    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[WebhookEndpoint],
        label: Any,
        call: Any,
    ) -> None:
        actor = Actor.for_staff(request)
        done = 0
        for endpoint in queryset:
            if not has_role(request, WRITE_ROLES, endpoint.organization_id):
                continue
            try:
                call(endpoint, actor)
                done += 1
            except KassaError as exc:
                self.message_user(request, f"{endpoint}: {exc.message}", messages.ERROR)
        _report(self, request, label, done)

    @admin.action(description=_("Enable"), permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        self._each(
            request,
            queryset,
            _("Enable"),
            lambda e, actor: webhooks.set_endpoint_status(e, "enabled", actor=actor),
        )

    @admin.action(description=_("Disable"), permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        self._each(
            request,
            queryset,
            _("Disable"),
            lambda e, actor: webhooks.set_endpoint_status(e, "disabled", actor=actor),
        )

    @admin.action(description=_("Send a test (ping) event"), permissions=["change"])
    def send_test(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        self._each(
            request,
            queryset,
            _("Send a test (ping) event"),
            lambda e, actor: webhooks.send_test_event(e, actor=actor),
        )

    @admin.action(description=_("Redeliver failed events since…"), permissions=["change"])
    def redeliver_failed_since(
        self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]
    ) -> HttpResponse | None:
        form = SinceForm(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            since = form.cleaned_data["since"]
            actor = Actor.for_staff(request)
            total = 0
            for endpoint in queryset:
                if not has_role(request, WRITE_ROLES, endpoint.organization_id):
                    continue
                try:
                    total += len(webhooks.redeliver_failed_since(endpoint, since, actor=actor))
                except KassaError as exc:
                    self.message_user(request, f"{endpoint}: {exc.message}", messages.ERROR)
            self.message_user(
                request, _("%(count)d failed events queued for redelivery.") % {"count": total}
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Redeliver failed events since…"),
            "objects": queryset,
            "form": form,
            "action_name": request.POST.get("action"),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/events/redeliver_since.html", context)


class AttemptInline(TabularInline):
    model = WebhookAttempt
    fields = ("attempted_at", "status_code", "latency_ms", "error", "response_body", "succeeded")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "event",
        "endpoint",
        "status",
        "attempt_count",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = (
        "status",
        "manual",
        ("created_at", RangeDateTimeFilter),
        ("next_attempt_at", RangeDateTimeFilter),
    )
    search_fields = ("id", "event__id", "event__type", "endpoint__url", "endpoint__id")
    list_select_related = ("event", "endpoint")
    readonly_fields = (
        "id",
        "organization",
        "endpoint",
        "event",
        "status",
        "attempt_count",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "manual",
        "created_at",
    )
    inlines = [AttemptInline]
    actions = ["redeliver"]

    def has_redeliver_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request, WRITE_ROLES, None)

    @admin.action(description=_("Redeliver"), permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        actor = Actor.for_staff(request)
        done = 0
        for delivery in queryset.select_related("endpoint", "event"):
            if not has_role(request, WRITE_ROLES, delivery.organization_id):
                continue
            try:
                webhooks.redeliver_event(delivery.endpoint, delivery.event, actor=actor)
                done += 1
            except KassaError as exc:
                self.message_user(request, f"{delivery}: {exc.message}", messages.ERROR)
        _report(self, request, _("Redeliver"), done)
