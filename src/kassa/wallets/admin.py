"""The wallets admin: wallets, their transactions, top-ups, auto top-up attempts, alerts,
settings, and staff adjustments (with a reason; audited by the service)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RangeDateTimeFilter, RangeNumericFilter

from kassa.core.actors import Actor
from kassa.core.admin_base import MONEY_ROLES, OrgScopedAdmin, ReadOnlyAdmin, has_role
from kassa.core.admin_export import CsvExportMixin
from kassa.core.errors import KassaError
from kassa.core.form_rules import InputRulesFormMixin
from kassa.core.money import format_money
from kassa.wallets import rules, services
from kassa.wallets.models import (
    Adjustment,
    AutoTopUpAttempt,
    LowBalanceAlert,
    TopUp,
    Wallet,
    WalletSettings,
    WalletTransaction,
)
from kassa.wallets.representations import KIND_TO_TYPE


@admin.register(Wallet)
class WalletAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "customer",
        "currency",
        "balance_display",
        "auto_topup_enabled",
        "auto_topup_failures",
        "created_at",
    )
    list_filter = ("currency", "auto_topup_enabled")
    search_fields = ("id", "customer__email", "customer__name")
    csv_fields = ("id", "customer", "currency", "auto_topup_enabled", "created_at")
    readonly_fields = (
        "id",
        "organization",
        "customer",
        "currency",
        "balance_display",
        "low_balance_thresholds",
        "auto_topup_enabled",
        "auto_topup_threshold",
        "auto_topup_amount",
        "auto_topup_payment_method",
        "auto_topup_failures",
        "auto_topup_disabled_reason",
        "links",
        "created_at",
    )
    exclude = ("metadata",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("ledger_account", "customer")

    @admin.display(description=_("balance"), ordering="ledger_account__balance")
    def balance_display(self, wallet: Wallet) -> str:
        return format_money(wallet.ledger_account.balance, wallet.currency, "en")

    @admin.display(description=_("History"))
    def links(self, wallet: Wallet) -> SafeString:
        return format_html(
            '<a href="../../../wallettransaction/?account__owner_id={0}">{1}</a> · '
            '<a href="../../../autotopupattempt/?wallet__id__exact={0}">{2}</a> · '
            '<a href="../../../adjustment/add/?wallet={0}">{3}</a>',
            wallet.id,
            _("transactions"),
            _("auto top-up attempts"),
            _("adjust balance"),
        )


@admin.register(WalletTransaction)
class WalletTransactionAdmin(CsvExportMixin, ReadOnlyAdmin):
    organization_path = "account__organization"
    list_display = ("id", "created_at", "wallet", "type", "amount_display", "after", "text")
    list_filter = (("created_at", RangeDateTimeFilter), ("amount", RangeNumericFilter))
    search_fields = ("transaction__description", "=transaction__reference", "=account__owner_id")
    csv_fields = ("id", "created_at", "amount", "currency", "balance_after")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return (
            super()
            .get_queryset(request)
            .filter(account__kind=services.WALLET_ACCOUNT)
            .select_related("transaction", "account")
        )

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        # The wallet page links here with ?account__owner_id=<wallet id>.
        return lookup == "account__owner_id" or super().lookup_allowed(lookup, value, request)

    @admin.display(description=_("wallet"))
    def wallet(self, entry: WalletTransaction) -> str:
        return entry.account.owner_id

    @admin.display(description=_("type"))
    def type(self, entry: WalletTransaction) -> str:
        return KIND_TO_TYPE.get(entry.transaction.kind, entry.transaction.kind)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, entry: WalletTransaction) -> str:
        return format_money(entry.amount, entry.currency, "en")

    @admin.display(description=_("balance after"))
    def after(self, entry: WalletTransaction) -> str:
        if entry.balance_after is None:  # only house accounts have none
            return ""
        return format_money(entry.balance_after, entry.currency, "en")

    @admin.display(description=_("description"))
    def text(self, entry: WalletTransaction) -> str:
        return entry.transaction.description or entry.transaction.reference


@admin.register(TopUp)
class TopUpAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = ("id", "created_at", "wallet", "status", "source", "amount", "bonus_amount")
    list_filter = ("status", "source", ("created_at", RangeDateTimeFilter))
    search_fields = ("id", "=wallet__id", "=payment__id")
    csv_fields = ("id", "created_at", "wallet", "status", "source", "amount", "bonus_amount")
    readonly_fields = [f.name for f in TopUp._meta.fields]


@admin.register(AutoTopUpAttempt)
class AutoTopUpAttemptAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "wallet",
        "status",
        "trigger",
        "amount",
        "balance_at_start",
        "failure_code",
    )
    list_filter = ("status", "trigger", "failure_code", ("created_at", RangeDateTimeFilter))
    search_fields = ("id", "=wallet__id")
    csv_fields = ("id", "created_at", "wallet", "status", "trigger", "amount", "failure_code")
    readonly_fields = [f.name for f in AutoTopUpAttempt._meta.fields]


@admin.register(LowBalanceAlert)
class LowBalanceAlertAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "wallet", "threshold", "balance", "urgency")
    list_filter = ("urgency",)
    search_fields = ("=wallet__id",)
    readonly_fields = [f.name for f in LowBalanceAlert._meta.fields]


class AdjustmentForm(InputRulesFormMixin, forms.ModelForm):
    class Meta:
        model = Adjustment
        fields = ("wallet", "amount", "reason")
        widgets = {"reason": forms.Textarea(attrs={"rows": 3})}

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data.get("reason") or "").strip()
        if len(reason) < 3:
            raise forms.ValidationError(_("A reason is required."))
        return reason


@admin.register(Adjustment)
class AdjustmentAdmin(CsvExportMixin, OrgScopedAdmin):
    """Staff corrections: added here (never edited), posted by `services.adjust`."""

    form = AdjustmentForm
    list_display = ("id", "created_at", "wallet", "amount", "currency", "reason", "created_by")
    search_fields = ("id", "=wallet__id", "reason")
    csv_fields = ("id", "created_at", "wallet", "amount", "currency", "reason", "created_by")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return has_role(request, MONEY_ROLES, None)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"wallet": request.GET.get("wallet")}

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "wallet" and not request.user.is_superuser:
            from kassa.core.admin_base import roles_of

            allowed = [org for org, role in roles_of(request).items() if role in MONEY_ROLES]
            kwargs["queryset"] = Wallet.objects.filter(organization_id__in=allowed)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        wallet = services.get_wallet(obj.wallet.organization_id, obj.wallet.id)
        if not has_role(request, MONEY_ROLES, wallet.organization_id):
            raise PermissionError("money role required")
        try:
            created = services.adjust(
                wallet,
                amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
                actor=Actor.for_staff(request),
            )
        except KassaError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            request.kassa_adjustment_refused = True  # type: ignore[attr-defined]
            return
        obj.pk = created.pk
        obj.id = created.id

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        from django.http import HttpResponseRedirect

        # Per request: the admin instance is shared by every thread.
        if getattr(request, "kassa_adjustment_refused", False):
            return HttpResponseRedirect(request.path + f"?wallet={obj.wallet_id}")
        return super().response_add(request, obj, post_url_continue)


@admin.register(WalletSettings)
class WalletSettingsAdmin(OrgScopedAdmin):
    list_display = ("organization", "currency", "credit_limit", "min_topup", "max_topup")
    fields = ("organization", "currency", *rules.SETTINGS_FIELDS)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("organization", "currency") if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        changes = {name: form.cleaned_data[name] for name in rules.SETTINGS_FIELDS}
        try:
            saved = rules.update_settings(
                obj.organization, obj.currency, changes, actor=Actor.for_staff(request)
            )
        except KassaError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = saved.pk
