from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RangeDateTimeFilter, RangeNumericFilter

from kassa.core.actors import Actor
from kassa.core.admin_actions import reason_action
from kassa.core.admin_base import MONEY_ROLES, OrgScopedAdmin, ReadOnlyAdmin, money
from kassa.core.admin_export import CsvExportMixin
from kassa.core.errors import KassaError
from kassa.core.form_rules import InputRulesFormMixin
from kassa.events.models import Event
from kassa.ledger.models import LedgerEntry
from kassa.payments import accounts, inbound, refunds, services
from kassa.payments.gateways.octo import services as octo_services
from kassa.payments.gateways.registry import available_providers, gateway_class, gateway_for
from kassa.payments.models import (
    ClickTransaction,
    GatewayAccount,
    GatewayEvent,
    OctoPayment,
    Payment,
    PaymentMethod,
    PaymeTransaction,
    Refund,
)


@admin.register(Payment)
class PaymentAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "status",
        "amount_display",
        "customer",
        "gateway_account",
        "purpose",
        "description",
    )
    list_filter = (
        "status",
        "gateway_account__provider",
        "purpose",
        "livemode",
        ("created_at", RangeDateTimeFilter),
        ("amount", RangeNumericFilter),
    )
    search_fields = (
        "id",
        "gateway_reference",
        "description",
        "customer__email",
        "customer__name",
        "purpose_id",
    )
    csv_fields = (
        "id",
        "created_at",
        "status",
        "amount",
        "currency",
        "amount_refunded",
        "customer",
        "gateway_account",
        "gateway_reference",
        "purpose",
        "purpose_id",
        "description",
        "failure_code",
        "succeeded_at",
    )
    readonly_fields = ("timeline",)
    fieldsets = ((None, {"fields": ("timeline",)}),)
    actions = [
        reason_action(
            "mark_succeeded",
            description=_("Mark as succeeded (money received)"),
            service=lambda payment, actor, reason: services.mark_succeeded(payment, actor, reason),
            permission="money",
        ),
        reason_action(
            "mark_failed",
            description=_("Mark as failed"),
            service=lambda payment, actor, reason: services.mark_failed(payment, actor, reason),
            permission="money",
        ),
        reason_action(
            "refund_in_full",
            description=_("Refund in full"),
            service=lambda payment, actor, reason: refunds.create_refund(
                payment.organization, payment_id=payment.id, reason=reason, actor=actor
            ),
            permission="money",
        ),
    ]

    def has_money_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        from kassa.core.admin_base import has_role

        return has_role(request, MONEY_ROLES, None)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, payment: Payment) -> str:
        text = money(payment.amount, payment.currency)
        if payment.amount_refunded:
            text += f" (−{money(payment.amount_refunded, payment.currency)})"
        return text

    @admin.display(description=_("Timeline"))
    def timeline(self, payment: Payment) -> SafeString:
        events = Event.objects.filter(object_id=payment.id).order_by("id")
        gateway_events = GatewayEvent.objects.filter(payment=payment).order_by("id")
        entries = (
            LedgerEntry.objects.filter(
                transaction__reference__in=[
                    payment.id,
                    *payment.refunds.values_list("id", flat=True),
                ]
            )
            .select_related("account", "transaction")
            .order_by("id")
        )
        summary = format_html(
            "<p><b>{}</b> · {} · {} · {}</p>",
            payment.id,
            payment.get_status_display(),
            money(payment.amount, payment.currency),
            payment.gateway_account or "—",
        )
        event_rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((e.created_at.isoformat(timespec="seconds"), "event", e.type) for e in events),
        )
        gateway_rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} ({})</td></tr>",
            (
                (
                    g.received_at.isoformat(timespec="seconds"),
                    f"gateway {g.provider}",
                    g.raw_type,
                    g.status,
                )
                for g in gateway_events
            ),
        )
        ledger_rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} {} → {}</td></tr>",
            (
                (
                    e.created_at.isoformat(timespec="seconds"),
                    f"ledger {e.transaction.kind}",
                    e.account,
                    # Signed, in the currency's format: "+UZS 1,500.00", not "+150000".
                    ("+" if e.amount > 0 else "") + money(e.amount, e.currency),
                    "—" if e.balance_after is None else money(e.balance_after, e.currency),
                )
                for e in entries
            ),
        )
        return format_html(
            '{}<table class="kassa-timeline">{}{}{}</table>',
            summary,
            event_rows,
            gateway_rows,
            ledger_rows,
        )


@admin.register(Refund)
class RefundAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = ("id", "created_at", "status", "payment", "amount_display", "reason")
    list_filter = ("status", ("created_at", RangeDateTimeFilter))
    search_fields = ("id", "payment__id", "gateway_reference", "reason")
    readonly_fields = [f.name for f in Refund._meta.fields]

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, refund: Refund) -> str:
        return money(refund.amount, refund.currency)


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ReadOnlyAdmin):
    list_display = ("id", "customer", "brand", "last4", "gateway_account", "status", "created_at")
    list_filter = ("status", "brand")
    search_fields = ("id", "customer__email", "last4")
    readonly_fields = [f.name for f in PaymentMethod._meta.fields]


@admin.register(ClickTransaction)
class ClickTransactionAdmin(ReadOnlyAdmin):
    """Click's attempts, searchable by the ids a customer or Click's support quotes."""

    list_display = (
        "click_trans_id",
        "click_paydoc_id",
        "payment",
        "amount",
        "status",
        "click_error",
        "gateway_account",
        "created_at",
    )
    list_filter = ("status", ("created_at", RangeDateTimeFilter))
    search_fields = ("=click_trans_id", "=click_paydoc_id", "payment__id")
    readonly_fields = [f.name for f in ClickTransaction._meta.fields]


@admin.register(OctoPayment)
class OctoPaymentAdmin(ReadOnlyAdmin):
    """OCTO's attempts, searchable by the ids OCTO's support quotes; holds are captured or
    cancelled here (two-stage accounts)."""

    list_display = (
        "shop_transaction_id",
        "octo_payment_uuid",
        "payment",
        "amount_display",
        "status",
        "capture",
        "test",
        "gateway_account",
        "created_at",
    )
    list_filter = ("status", "capture", "test", ("created_at", RangeDateTimeFilter))
    search_fields = ("=shop_transaction_id", "=octo_payment_uuid", "payment__id")
    readonly_fields = [f.name for f in OctoPayment._meta.fields]
    actions = [
        reason_action(
            "capture_hold",
            description=_("Capture the held amount"),
            service=lambda attempt, actor, reason: octo_services.capture_hold(
                attempt.payment, actor, reason
            ),
            permission="money",
        ),
        reason_action(
            "cancel_hold",
            description=_("Cancel the hold and the payment"),
            service=lambda attempt, actor, reason: octo_services.cancel_hold(
                attempt.payment, actor, reason
            ),
            permission="money",
        ),
    ]

    def has_money_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        from kassa.core.admin_base import has_role

        return has_role(request, MONEY_ROLES, None)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, attempt: OctoPayment) -> str:
        return money(attempt.amount, attempt.currency)


@admin.register(PaymeTransaction)
class PaymeTransactionAdmin(ReadOnlyAdmin):
    """Payme's transactions, searchable by the Payme id a customer or Payme's support quotes."""

    list_display = (
        "payme_id",
        "id",
        "payment",
        "amount",
        "state",
        "reason",
        "gateway_account",
        "created_at",
    )
    list_filter = ("state", ("created_at", RangeDateTimeFilter))
    search_fields = ("=payme_id", "=id", "payment__id")
    readonly_fields = [f.name for f in PaymeTransaction._meta.fields]


@admin.register(GatewayEvent)
class GatewayEventAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "received_at",
        "provider",
        "raw_type",
        "status",
        "verified",
        "attempts",
        "payment",
    )
    list_filter = ("status", "provider", "verified", ("received_at", RangeDateTimeFilter))
    search_fields = ("id", "external_id", "raw_type", "payment__id")
    readonly_fields = [f.name for f in GatewayEvent._meta.fields]
    actions = [
        reason_action(
            "reprocess",
            description=_("Reprocess"),
            service=lambda event, actor, reason: inbound.reprocess(event.id),
            permission="money",
        )
    ]

    def has_money_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        from kassa.core.admin_base import has_role

        return has_role(request, MONEY_ROLES, None)


class GatewayAccountForm(InputRulesFormMixin, forms.ModelForm):
    """Credentials are entered per provider; secrets are write-only."""

    provider = forms.ChoiceField(choices=())
    credentials_json = forms.JSONField(
        label=_("Credentials"),
        required=False,
        help_text=_("Leave a secret out to keep its current value."),
    )

    class Meta:
        model = GatewayAccount
        fields = (
            "organization",
            "provider",
            "name",
            "test_mode",
            "currencies",
            "is_default",
            "options",
            "status",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [(p, p) for p in available_providers()]  # type: ignore[attr-defined]
        provider = self.instance.provider if self.instance.pk else None
        if provider:
            lines = [
                f"{f.name}: {f.label}"
                + (" (secret)" if f.secret else "")
                + (f" — {f.help}" if f.help else "")
                for f in gateway_class(provider).credential_fields
            ]
            self.fields["credentials_json"].help_text = "; ".join(lines)
            options = [
                f"{f.name}: {f.label}" + (f" — {f.help}" if f.help else "")
                for f in gateway_class(provider).option_fields
            ]
            if options:
                self.fields["options"].help_text = "; ".join(options)
            self.fields["credentials_json"].initial = {
                name: ""
                if any(
                    f.name == name and f.secret for f in gateway_class(provider).credential_fields
                )
                else value
                for name, value in self.instance.credentials.items()
            }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # A new account already has its prefixed id (pk), so `adding` tells add from change.
        adding = self.instance._state.adding
        provider = data.get("provider") if adding else self.instance.provider
        if not provider:
            return data
        cls = gateway_class(provider)
        entered = {
            k: v for k, v in (data.get("credentials_json") or {}).items() if v not in ("", None)
        }
        merged = {**({} if adding else self.instance.credentials), **entered}
        try:
            clean, _options = cls.validate_config(merged, data.get("options") or {})
            cls.check_mode(clean, bool(data.get("test_mode", self.instance.test_mode)))
        except KassaError as exc:
            raise forms.ValidationError(exc.message) from None
        if cls.test_only and not data.get("test_mode", self.instance.test_mode):
            raise forms.ValidationError(_("This provider is for test mode only."))
        return data


@admin.register(GatewayAccount)
class GatewayAccountAdmin(OrgScopedAdmin):
    form = GatewayAccountForm
    list_display = (
        "__str__",
        "id",
        "provider",
        "mode_badge",
        "currencies",
        "is_default",
        "status",
        "organization",
    )
    list_filter = ("provider", "test_mode", "status")
    search_fields = ("id", "name")
    readonly_fields = ("callback_urls_display", "credential_help")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        main = [
            "organization",
            "provider",
            "name",
            "test_mode",
            "currencies",
            "is_default",
            "status",
        ]
        if obj is not None:
            main = [f for f in main if f not in ("organization", "provider")]
        return (
            (None, {"fields": main}),
            (_("Credentials"), {"fields": ["credential_help", "credentials_json", "options"]}),
            (_("Paste these into the provider's cabinet"), {"fields": ["callback_urls_display"]}),
        )

    @admin.display(description=_("mode"))
    def mode_badge(self, account: GatewayAccount) -> SafeString:
        if account.test_mode:
            return format_html('<span class="kassa-badge kassa-test">{}</span>', _("TEST"))
        return format_html('<span class="kassa-badge kassa-live">{}</span>', _("LIVE"))

    @admin.display(description=_("Callback URLs"))
    def callback_urls_display(self, account: GatewayAccount) -> SafeString:
        if not account.pk:
            return format_html("{}", _("Shown after saving."))
        gateway = gateway_for(account)
        urls = format_html_join(
            "",
            "<div><b>{}</b>: <code>{}</code></div>",
            gateway.callback_urls().items(),
        )
        if gateway.setup_help:
            return format_html("{}<p>{}</p>", urls, gateway.setup_help)
        return urls

    @admin.display(description=_("Fields"))
    def credential_help(self, account: GatewayAccount) -> SafeString:
        providers = [account.provider] if account.pk else available_providers()
        return format_html_join(
            "",
            "<div><b>{}</b>: {}</div>",
            (
                (
                    provider,
                    ", ".join(
                        f"{f.name}{'*' if f.required else ''} ({f.label})"
                        for f in gateway_class(provider).credential_fields
                    )
                    or "—",
                )
                for provider in providers
            ),
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        actor = Actor.for_staff(request)
        data = form.cleaned_data
        credentials = {
            k: v for k, v in (data.get("credentials_json") or {}).items() if v not in ("", None)
        }
        if change:
            changes: dict[str, Any] = {
                "name": data["name"],
                "currencies": data["currencies"] or None,
                "default": data["is_default"],
                "status": data["status"],
                "options": data.get("options") or {},
            }
            if credentials:
                changes["credentials"] = credentials
            saved = accounts.update_gateway_account(
                GatewayAccount.objects.get(pk=obj.pk), changes, actor=actor
            )
        else:
            saved = accounts.create_gateway_account(
                data["organization"],
                provider=data["provider"],
                test_mode=data["test_mode"],
                credentials=credentials,
                options=data.get("options") or {},
                name=data["name"],
                currencies=data["currencies"] or None,
                is_default=data["is_default"],
                actor=actor,
            )
        obj.pk = saved.pk
