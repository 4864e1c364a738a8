from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from kassa.core import services
from kassa.core.actors import Actor
from kassa.core.admin_actions import reason_action
from kassa.core.admin_base import OrgScopedAdmin, ReadOnlyAdmin
from kassa.core.models import ApiKey, AuditLogEntry, Membership, Organization
from kassa.platform.models import PeriodicJobState, WorkerHeartbeat

admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser


@admin.register(Organization)
class OrganizationAdmin(OrgScopedAdmin):
    organization_path = "id"
    list_display = ("name", "id", "default_currency", "timezone", "locale", "created_at")
    search_fields = ("name", "id", "legal_name")
    readonly_fields = ("id", "created_at")
    fieldsets = (
        (None, {"fields": ("id", "name", "default_currency", "timezone", "locale", "created_at")}),
        (
            _("Legal details (printed on invoices)"),
            {
                "fields": (
                    "legal_name",
                    "address_line1",
                    "address_line2",
                    "postal_code",
                    "city",
                    "country",
                    "vat_id",
                    "tax_number",
                    "email",
                    "phone",
                )
            },
        ),
    )

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.is_superuser

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        actor = Actor.for_staff(request)
        if change:
            original = Organization.objects.get(pk=obj.pk)
            services.update_organization(
                original, {f: form.cleaned_data[f] for f in form.changed_data}, actor=actor
            )
        else:
            created = services.create_organization(
                name=obj.name,
                actor=actor,
                currency=obj.default_currency,
                timezone_name=obj.timezone,
                locale=obj.locale,
            )
            obj.pk = created.pk


@admin.register(Membership)
class MembershipAdmin(OrgScopedAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__username", "user__email")
    autocomplete_fields = ()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


@admin.register(ApiKey)
class ApiKeyAdmin(OrgScopedAdmin):
    list_display = (
        "prefix",
        "name",
        "organization",
        "mode",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("mode", ("created_at", RangeDateTimeFilter))
    search_fields = ("prefix", "name")
    fields = ("organization", "name", "mode", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    actions = [
        reason_action(
            "revoke_keys",
            description=_("Revoke selected keys"),
            service=lambda key, actor, reason: services.revoke_api_key(
                key, actor=actor, reason=reason
            ),
        )
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return (*self.readonly_fields, "organization", "mode")
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            return
        issued = services.create_api_key(
            form.cleaned_data["organization"],
            actor=Actor.for_staff(request),
            mode=form.cleaned_data["mode"],
            name=form.cleaned_data.get("name") or "",
            created_by=request.user,  # type: ignore[arg-type]
        )
        obj.pk = issued.key.pk
        messages.warning(
            request,
            _("Copy the new key now; it will not be shown again: %(key)s") % {"key": issued.secret},
        )


@admin.register(AuditLogEntry)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "actor_label",
        "actor_type",
        "action",
        "object_type",
        "object_id",
        "reason",
    )
    list_filter = ("actor_type", "action", "object_type", ("created_at", RangeDateTimeFilter))
    search_fields = ("object_id", "actor_label", "action", "reason")
    readonly_fields = [f.name for f in AuditLogEntry._meta.fields]


class SystemAdmin(ReadOnlyAdmin):
    """Operational state, for superusers."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def get_queryset(self, request: HttpRequest) -> Any:
        return self.model._default_manager.all()


@admin.register(PeriodicJobState)
class PeriodicJobAdmin(SystemAdmin):
    list_display = ("name", "last_run_at", "next_run_at")


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(SystemAdmin):
    list_display = ("worker_id", "hostname", "pid", "started_at", "last_seen")
