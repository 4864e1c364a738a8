from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from unfold.contrib.filters.admin import RangeDateTimeFilter

from kassa.core.actors import Actor
from kassa.core.admin_base import OrgScopedAdmin
from kassa.customers import services
from kassa.customers.models import Customer


@admin.register(Customer)
class CustomerAdmin(OrgScopedAdmin):
    list_display = ("id", "name", "email", "phone", "locale", "organization", "created_at")
    list_filter = ("locale", ("created_at", RangeDateTimeFilter))
    search_fields = ("id", "name", "email", "phone")
    readonly_fields = ("id", "created_at")
    fields = ("id", "organization", "name", "email", "phone", "locale", "metadata", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*self.readonly_fields, "organization") if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = {f: form.cleaned_data[f] for f in form.changed_data if f != "organization"}
        if change:
            services.update_customer(
                Customer.objects.get(pk=obj.pk), data, actor=Actor.for_staff(request)
            )
        else:
            created = services.create_customer(form.cleaned_data["organization"], data)
            obj.pk = created.pk
