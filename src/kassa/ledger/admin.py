from __future__ import annotations

from django.contrib import admin
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import RangeDateTimeFilter

from kassa.core.admin_base import ReadOnlyAdmin
from kassa.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction


class EntryInline(TabularInline):
    model = LedgerEntry
    fields = ("account", "amount", "currency", "balance_after")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "owner_id",
        "name",
        "currency",
        "balance",
        "min_balance",
        "organization",
    )
    list_filter = ("kind", "currency")
    search_fields = ("owner_id", "name")
    readonly_fields = [f.name for f in LedgerAccount._meta.fields]


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "reference", "description", "organization")
    list_filter = ("kind", ("created_at", RangeDateTimeFilter))
    search_fields = ("reference", "idempotency_key", "description")
    readonly_fields = [f.name for f in LedgerTransaction._meta.fields]
    inlines = [EntryInline]
