from __future__ import annotations

from django.contrib import admin
from unfold.contrib.filters.admin import RangeDateTimeFilter

from kassa.core.admin_base import ReadOnlyAdmin
from kassa.events.models import Event


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "object_id", "created_at", "organization")
    list_filter = ("type", ("created_at", RangeDateTimeFilter))
    search_fields = ("id", "object_id", "type")
    readonly_fields = ("id", "organization", "type", "object_id", "data", "created_at")
