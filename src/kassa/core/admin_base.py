"""Admin building blocks: organization scoping and role checks for every model admin.

A staff user sees only the rows of the organizations they are a member of; what they may do
depends on their role there (viewer: read; finance: money actions; admin and owner: all).
Superusers see everything. Nothing financial can be deleted from the admin."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from django.http import HttpRequest
from unfold.admin import ModelAdmin

from kassa.core.form_rules import apply_input_rules
from kassa.core.models import Membership, Role

WRITE_ROLES = frozenset({Role.OWNER, Role.ADMIN})
MONEY_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.FINANCE})


def roles_of(request: HttpRequest) -> dict[str, str]:
    """{organization id: role} for the signed-in user, cached on the request."""
    cached: dict[str, str] | None = getattr(request, "_kassa_roles", None)
    if cached is None:
        user = request.user
        cached = (
            dict(Membership.objects.filter(user_id=user.pk).values_list("organization_id", "role"))
            if user.is_authenticated
            else {}
        )
        request._kassa_roles = cached  # type: ignore[attr-defined]
    return cached


def organization_ids(request: HttpRequest) -> list[str]:
    return list(roles_of(request))


def has_role(request: HttpRequest, roles: frozenset[str], organization_id: str | None) -> bool:
    if request.user.is_superuser:
        return True
    known = roles_of(request)
    if organization_id is None:
        return any(role in roles for role in known.values())
    return known.get(organization_id) in roles


class OrgScopedAdmin(ModelAdmin):
    """Base for every Kassa model admin."""

    # The lookup from this model to its organization's id.
    organization_path = "organization"
    write_roles: frozenset[str] = WRITE_ROLES
    list_per_page = 50

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        return apply_input_rules(field) if field is not None else None

    def organization_id_of(self, obj: Any) -> str | None:
        value: Any = obj
        for part in self.organization_path.split("__"):
            value = getattr(value, part, None)
            if value is None:
                return None
        return value.pk if isinstance(value, Model) else str(value)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.organization_path}__in": organization_ids(request)})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and (request.user.is_superuser or bool(roles_of(request)))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None:
            return self.has_module_permission(request)
        return has_role(request, frozenset(Role.values), self.organization_id_of(obj))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        org = self.organization_id_of(obj) if obj is not None else None
        return has_role(request, self.write_roles, org)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return has_role(request, self.write_roles, None)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model
        if not request.user.is_superuser:
            if related._meta.model_name == "organization":
                kwargs["queryset"] = related.objects.filter(pk__in=organization_ids(request))
            elif any(f.name == "organization" for f in related._meta.fields):
                kwargs["queryset"] = related.objects.filter(
                    organization_id__in=organization_ids(request)
                )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlyAdmin(OrgScopedAdmin):
    """For records that are written only by services: ledger, events, audit log."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
