from __future__ import annotations

from django.contrib import admin
from django.db.models import Case, F, OuterRef, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
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
        "current_balance",
        "derived",
        "min_balance",
        "organization",
    )
    list_filter = ("kind", "currency", "derived")
    search_fields = ("owner_id", "name")
    readonly_fields = [*(f.name for f in LedgerAccount._meta.fields), "current_balance"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerAccount]:
        # A derived balance is the sum of the account's entries (summed for those rows only).
        entries = (
            LedgerEntry.objects.filter(account=OuterRef("pk"))
            .order_by()
            .values("account")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                current=Case(
                    When(derived=True, then=Coalesce(Subquery(entries), Value(0))),
                    default=F("balance"),
                )
            )
        )

    @admin.display(description=_("balance"), ordering="current")
    def current_balance(self, account: LedgerAccount) -> int:
        return int(getattr(account, "current", account.balance))


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "reference", "description", "organization")
    list_filter = ("kind", ("created_at", RangeDateTimeFilter))
    search_fields = ("reference", "idempotency_key", "description")
    readonly_fields = [f.name for f in LedgerTransaction._meta.fields]
    inlines = [EntryInline]
