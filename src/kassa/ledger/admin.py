from __future__ import annotations

from django.contrib import admin
from django.db.models import Case, F, OuterRef, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import RangeDateTimeFilter

from kassa.core.admin_base import ReadOnlyAdmin, money
from kassa.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction


class EntryInline(TabularInline):
    model = LedgerEntry
    fields = ("account", "amount_display", "balance_display")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    @admin.display(description=_("amount"))
    def amount_display(self, entry: LedgerEntry) -> str:
        return ("+" if entry.amount > 0 else "") + money(entry.amount, entry.currency)

    @admin.display(description=_("balance after"))
    def balance_display(self, entry: LedgerEntry) -> str:
        return money(entry.balance_after, entry.currency)


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
        "floor",
        "organization",
    )
    list_filter = ("kind", "currency", "derived")
    search_fields = ("owner_id", "name")
    readonly_fields = [*(f.name for f in LedgerAccount._meta.fields), "current_balance", "floor"]

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
    def current_balance(self, account: LedgerAccount) -> str:
        return money(int(getattr(account, "current", account.balance)), account.currency)

    @admin.display(description=_("lowest allowed balance"), ordering="min_balance")
    def floor(self, account: LedgerAccount) -> str:
        return money(account.min_balance, account.currency)


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "reference", "description", "organization")
    list_filter = ("kind", ("created_at", RangeDateTimeFilter))
    search_fields = ("reference", "idempotency_key", "description")
    readonly_fields = [f.name for f in LedgerTransaction._meta.fields]
    inlines = [EntryInline]
