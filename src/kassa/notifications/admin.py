"""Admin: notifications (filters, resend), paused recipients (unpause), template previews."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import EmptyFieldListFilter
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.decorators import action

from kassa.core.actors import Actor
from kassa.core.admin_base import WRITE_ROLES, ReadOnlyAdmin, has_role, organization_ids
from kassa.core.models import LOCALES, Organization
from kassa.customers.models import Customer
from kassa.notifications import services
from kassa.notifications.models import Notification, PushSubscription, RecipientState
from kassa.notifications.registry import UnknownNotificationType, get_type, registered_types
from kassa.notifications.rendering import render


class WriteActionsMixin:
    def has_write_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request, WRITE_ROLES, None)


@admin.register(Notification)
class NotificationAdmin(WriteActionsMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "type",
        "channel",
        "recipient",
        "locale",
        "status",
        "attempts",
        "organization",
    )
    list_filter = ("channel", "status", "type", ("created_at", RangeDateTimeFilter))
    search_fields = ("id", "recipient", "customer__id", "type", "provider_message_id")
    readonly_fields = [f.name for f in Notification._meta.fields]
    actions = ["resend"]
    actions_list = ["template_previews"]

    @admin.action(description=_("Resend"), permissions=["write"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        actor = Actor.for_staff(request)
        copies = [
            services.resend(row.id, actor=actor)
            for row in queryset
            if has_role(request, WRITE_ROLES, row.organization_id)
        ]
        self.message_user(
            request,
            ngettext(
                "%(count)d notification queued again.",
                "%(count)d notifications queued again.",
                len(copies),
            )
            % {"count": len(copies)},
            messages.SUCCESS,
        )

    @action(description=_("Template previews"), url_path="template-previews")
    def template_previews(self, request: HttpRequest) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:notifications_template_previews"))

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "previews/",
                view(self.previews_view),
                name="notifications_template_previews",
            ),
            path(
                "previews/<str:type_key>/<str:locale>/",
                view(self.preview_view),
                name="notifications_template_preview",
            ),
            *super().get_urls(),
        ]

    def previews_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_module_permission(request):
            raise Http404
        context = {
            **self.admin_site.each_context(request),
            "title": _("Notification templates"),
            "types": registered_types(),
            "locales": LOCALES,
        }
        return TemplateResponse(request, "admin/notifications/previews.html", context)

    def preview_view(self, request: HttpRequest, type_key: str, locale: str) -> HttpResponse:
        if not self.has_module_permission(request) or locale not in dict(LOCALES):
            raise Http404
        try:
            ntype = get_type(type_key)
        except UnknownNotificationType:
            raise Http404 from None
        scope = None if request.user.is_superuser else organization_ids(request)
        organizations = Organization.objects.order_by("created_at")
        if scope is not None:
            organizations = organizations.filter(pk__in=scope)
        # Rendered with unsaved example objects: a preview never touches real customers.
        organization = organizations.first() or Organization(name="Example Tours", locale=locale)
        customer = Customer(
            organization=organization,
            name="Ann Example",
            email="ann@example.com",
            phone="+998901234567",
            locale=locale,
        )
        error = ""
        rendered = None
        try:
            rendered = render(
                ntype,
                organization=organization,
                customer=customer if ntype.audience == "customer" else None,
                context=dict(ntype.sample),
                locale=locale,
            )
        except (TemplateDoesNotExist, TemplateSyntaxError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            # Usually a value the template needs that the type's `sample` does not provide.
            error = _("The template cannot be rendered with the type's sample context: %(e)s") % {
                "e": f"{type(exc).__name__}: {exc}"
            }
        context = {
            **self.admin_site.each_context(request),
            "title": _("Preview: %(label)s (%(locale)s)")
            % {"label": ntype.label, "locale": locale},
            "ntype": ntype,
            "locale": locale,
            "locales": LOCALES,
            "rendered": rendered,
            "error": error,
        }
        return TemplateResponse(request, "admin/notifications/preview.html", context)


@admin.register(RecipientState)
class RecipientStateAdmin(WriteActionsMixin, ReadOnlyAdmin):
    list_display = (
        "channel",
        "recipient",
        "hard_failures",
        "paused_at",
        "last_failure",
        "organization",
    )
    list_filter = ("channel", ("paused_at", EmptyFieldListFilter))
    search_fields = ("recipient",)
    readonly_fields = [f.name for f in RecipientState._meta.fields]
    actions = ["unpause"]

    @admin.action(description=_("Unpause"), permissions=["write"])
    def unpause(self, request: HttpRequest, queryset: QuerySet[RecipientState]) -> None:
        actor = Actor.for_staff(request)
        rows = [s for s in queryset if has_role(request, WRITE_ROLES, s.organization_id)]
        for state in rows:
            services.unpause(state, actor=actor)
        self.message_user(
            request,
            ngettext("%(count)d recipient unpaused.", "%(count)d recipients unpaused.", len(rows))
            % {"count": len(rows)},
            messages.SUCCESS,
        )


@admin.register(PushSubscription)
class PushSubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("id", "customer", "endpoint", "created_at", "revoked_at", "organization")
    list_filter = (("revoked_at", EmptyFieldListFilter),)
    search_fields = ("id", "customer__id", "endpoint")
    readonly_fields = [f.name for f in PushSubscription._meta.fields]
