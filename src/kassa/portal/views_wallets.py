"""The portal's wallet pages: the dashboard with the live balance, quick top-up with the bonus
shown before paying, auto top-up settings, the history with filters and CSV export, and the
chart of daily usage."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kassa.core import localtime
from kassa.core.errors import InvalidRequest, KassaError
from kassa.core.money import exponent, format_money, from_decimal, to_decimal_string
from kassa.ledger.models import LedgerEntry
from kassa.payments.links import checkout_url
from kassa.payments.models import PaymentMethod
from kassa.payments.services import eligible_accounts
from kassa.portal.session import PortalUser, portal_login_required, portal_user
from kassa.wallets import auto_topup, history, topups
from kassa.wallets.models import AutoTopUpAttempt, Wallet
from kassa.wallets.representations import TYPE_TO_KINDS
from kassa.wallets.rules import bonus_for, settings_for
from kassa.wallets.signals import balance_state

USAGE_DAYS = 30
HISTORY_PAGE = 25
# Quick top-up amounts in major units; a currency's own list wins.
PRESETS_MAJOR = {"UZS": [50_000, 100_000, 250_000, 500_000, 1_000_000]}
DEFAULT_PRESETS_MAJOR = [10, 25, 50, 100, 250]


def _wallets(user: PortalUser) -> list[Wallet]:
    return list(
        Wallet.objects.filter(organization_id=user.organization.id, customer_id=user.customer.id)
        .select_related("auto_topup_payment_method")
        .order_by("currency")
    )


def _wallet(user: PortalUser, wallet_id: str) -> Wallet:
    # Only the signed-in customer's own wallets: anything else is a 404.
    wallet = (
        Wallet.objects.filter(
            pk=wallet_id, organization_id=user.organization.id, customer_id=user.customer.id
        )
        .select_related("auto_topup_payment_method")
        .first()
    )
    if wallet is None:
        raise Http404
    return wallet


def presets(wallet: Wallet) -> list[dict[str, Any]]:
    """Preset amounts within the organization's bounds, each with the bonus it earns; tier
    thresholds are offered too, so the customer sees where a bonus starts."""
    rules = settings_for(wallet.organization_id, wallet.currency)
    scale = 10 ** exponent(wallet.currency)
    amounts = {major * scale for major in PRESETS_MAJOR.get(wallet.currency, DEFAULT_PRESETS_MAJOR)}
    amounts |= {int(tier["min_amount"]) for tier in rules.bonus_tiers}
    result = []
    for amount in sorted(amounts):
        if amount < rules.min_topup or (rules.max_topup is not None and amount > rules.max_topup):
            continue
        result.append(
            {
                "amount": amount,
                "decimal": to_decimal_string(amount, wallet.currency),
                "bonus": bonus_for(rules, amount),
            }
        )
    return result[:6]


def _card(wallet: Wallet, locale: str) -> dict[str, Any]:
    balance, sequence = balance_state(wallet.ledger_account_id)
    return {
        "wallet": wallet,
        "balance": balance,
        "sequence": sequence,
        "balance_display": format_money(balance, wallet.currency, locale),
        "exponent": exponent(wallet.currency),
        "presets": [
            {
                **p,
                "display": format_money(p["amount"], wallet.currency, locale),
                "bonus_display": format_money(p["bonus"], wallet.currency, locale),
            }
            for p in presets(wallet)
        ],
        "usage": usage_series(wallet),
    }


def usage_series(wallet: Wallet) -> dict[str, Any]:
    """Charges per day over the last 30 days (net of reversals), in the organization's time
    zone: {"days": [unix seconds], "amounts": [minor units]}."""
    tz = localtime.zone(wallet.organization.timezone)
    today = timezone.now().astimezone(tz).date()
    first = today - timedelta(days=USAGE_DAYS - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=tz)
    kinds = TYPE_TO_KINDS["charge"] + TYPE_TO_KINDS["reversal"]
    rows = (
        LedgerEntry.objects.filter(
            account_id=wallet.ledger_account_id,
            created_at__gte=since,
            transaction__kind__in=kinds,
        )
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day")
        .annotate(total=Sum("amount"))
    )
    # Charges debit the wallet (negative entries); usage is their size.
    by_day: dict[date, int] = {row["day"]: -int(row["total"]) for row in rows}
    days = [first + timedelta(days=n) for n in range(USAGE_DAYS)]
    return {
        "days": [
            int(datetime.combine(d, datetime.min.time(), tzinfo=tz).timestamp()) for d in days
        ],
        "amounts": [max(by_day.get(d, 0), 0) for d in days],
        "total": sum(max(by_day.get(d, 0), 0) for d in days),
    }


def _dashboard(
    request: HttpRequest, user: PortalUser, status: int = 200, **extra: Any
) -> HttpResponse:
    cards = [_card(wallet, user.locale) for wallet in _wallets(user)]
    for card in cards:
        card["chart_id"] = f"usage-{card['wallet'].id}"
        card["usage_data"] = {
            **card["usage"],
            "exponent": card["exponent"],
            "locale": user.locale,
            "timezone": user.organization.timezone or "UTC",
            "label": _("Usage"),
        }
        card["usage_total"] = format_money(
            card["usage"]["total"], card["wallet"].currency, user.locale
        )
    context = {"portal": user, "cards": cards, "nav": "dashboard", **extra}
    return render(request, "portal/dashboard.html", context, status=status)


@require_GET
@portal_login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return _dashboard(request, portal_user(request))


# What a customer may type as an amount: the page's digits (0-9 in every language the portal
# speaks), with a point or a comma before the fraction. Python's Decimal would also take other
# scripts' digits, underscores and exponents ("١٢٣", "1_000", "1e3"); the page refuses them.
_AMOUNT = re.compile(r"[0-9]+(?:[.,][0-9]+)?", re.ASCII)


def _parse_amount(raw: str, wallet: Wallet) -> int:
    text = raw.strip()
    if not _AMOUNT.fullmatch(text):
        raise InvalidRequest(
            gettext_noop("Enter the amount in digits, for example 150 or 150.50."),
            param="amount",
        )
    return from_decimal(text.replace(",", "."), wallet.currency)


@require_GET
@portal_login_required
def topup_preview(request: HttpRequest, wallet_id: str) -> HttpResponse:
    """The bonus and the new balance for an amount, before paying (htmx fragment)."""
    user = portal_user(request)
    wallet = _wallet(user, wallet_id)
    context: dict[str, Any] = {"wallet": wallet}
    raw = request.GET.get("amount", "")
    if raw.strip():
        try:
            # The same rule as the top-up itself (topups.checked_amount): the preview never
            # shows a bonus for an amount that paying would refuse.
            amount, bonus = topups.checked_amount(wallet, _parse_amount(raw, wallet))
        except KassaError as exc:
            context["error"] = exc.localized()
        else:
            balance, _seq = balance_state(wallet.ledger_account_id)
            context.update(
                amount=format_money(amount, wallet.currency, user.locale),
                bonus=format_money(bonus, wallet.currency, user.locale) if bonus else "",
                credited=format_money(amount + bonus, wallet.currency, user.locale),
                after=format_money(balance + amount + bonus, wallet.currency, user.locale),
            )
    return render(request, "portal/_topup_preview.html", context)


def _livemode(wallet: Wallet) -> bool:
    # The portal has no API key to tell the mode: live when the organization can take live
    # payments in this currency, test (sandbox) otherwise.
    return bool(eligible_accounts(wallet.organization_id, wallet.currency, True))


@require_POST
@portal_login_required
def topup(request: HttpRequest, wallet_id: str) -> HttpResponse:
    user = portal_user(request)
    wallet = _wallet(user, wallet_id)
    try:
        amount = _parse_amount(request.POST.get("amount", ""), wallet)
        created = topups.create_topup(
            wallet,
            amount=amount,
            livemode=_livemode(wallet),
            return_url=f"{request.build_absolute_uri('/portal/')}?topup={wallet.id}",
            save_payment_method=request.POST.get("save_card") == "on",
        )
    except KassaError as exc:
        return _dashboard(
            request, user, status=400, topup_error=exc.localized(), error_wallet=wallet.id
        )
    assert created.payment is not None
    return HttpResponseRedirect(checkout_url(created.payment.id) + f"?lang={user.locale}")


def _active_methods(user: PortalUser) -> list[PaymentMethod]:
    return list(
        PaymentMethod.objects.filter(
            organization_id=user.organization.id,
            customer_id=user.customer.id,
            status=PaymentMethod.Status.ACTIVE,
        ).order_by("-id")
    )


@require_http_methods(["GET", "POST"])
@portal_login_required
def auto_topup_settings(request: HttpRequest, wallet_id: str) -> HttpResponse:
    user = portal_user(request)
    wallet = _wallet(user, wallet_id)
    error = ""
    saved = False
    if request.method == "POST":
        enabled = request.POST.get("enabled") == "on"
        try:
            threshold = _parse_amount(request.POST.get("threshold", "") or "0", wallet)
            amount_raw = request.POST.get("amount", "")
            method = request.POST.get("payment_method") or None
            if enabled and not method:
                raise KassaError(_("Choose a saved card for auto top-up."))
            wallet = auto_topup.configure(
                wallet,
                enabled=enabled,
                threshold=threshold,
                amount=_parse_amount(amount_raw, wallet) if amount_raw.strip() else None,
                payment_method_id=method,
            )
            saved = True
        except KassaError as exc:
            error = exc.localized()
    attempts = AutoTopUpAttempt.objects.filter(wallet=wallet).order_by("-id")[:10]
    context = {
        "portal": user,
        "wallet": wallet,
        "methods": _active_methods(user),
        "threshold": to_decimal_string(wallet.auto_topup_threshold, wallet.currency),
        "amount": to_decimal_string(wallet.auto_topup_amount, wallet.currency)
        if wallet.auto_topup_amount
        else "",
        "attempts": [
            {"attempt": a, "amount": format_money(a.amount, a.currency, user.locale)}
            for a in attempts
        ],
        "error": error,
        "saved": saved,
        "nav": "dashboard",
    }
    return render(request, "portal/auto_topup.html", context, status=400 if error else 200)


def _history_filters(request: HttpRequest, wallet: Wallet) -> tuple[dict[str, Any], dict[str, str]]:
    raw = {k: request.GET.get(k, "").strip() for k in ("type", "from", "to", "min", "max", "q")}
    filters: dict[str, Any] = {}
    if raw["type"] in TYPE_TO_KINDS:
        filters["types"] = raw["type"]
    # The days the customer picks are days on the organization's clock, as the page shows.
    tz = localtime.zone(wallet.organization.timezone)
    if (start := parse_date(raw["from"]) if raw["from"] else None) is not None:
        filters["created_gte"] = datetime.combine(start, datetime.min.time(), tzinfo=tz)
    if (end := parse_date(raw["to"]) if raw["to"] else None) is not None:
        filters["created_lte"] = datetime.combine(end, datetime.max.time(), tzinfo=tz)
    for key, name in (("min", "amount_gte"), ("max", "amount_lte")):
        if raw[key]:
            filters[name] = _parse_amount(raw[key], wallet)
    if raw["q"]:
        filters["q"] = raw["q"]
    return filters, raw


@require_GET
@portal_login_required
def history_page(request: HttpRequest) -> HttpResponse:
    user = portal_user(request)
    wallets = _wallets(user)
    chosen = request.GET.get("wallet")
    wallet = next((w for w in wallets if w.id == chosen), wallets[0] if wallets else None)
    if chosen and (wallet is None or wallet.id != chosen):
        raise Http404
    context: dict[str, Any] = {
        "portal": user,
        "wallets": wallets,
        "wallet": wallet,
        "nav": "history",
        "types": _type_choices(),
    }
    if wallet is not None:
        try:
            filters, raw = _history_filters(request, wallet)
            queryset = history.entries(wallet, **filters)
            page = history.page(
                queryset, wallet, HISTORY_PAGE, request.GET.get("starting_after") or None
            )
        except KassaError as exc:
            context.update(error=exc.localized(), raw={}, rows=[], has_more=False)
        else:
            rows = [
                {
                    **row,
                    "amount_display": format_money(row["amount"], row["currency"], user.locale),
                    "balance_display": format_money(
                        row["balance_after"], row["currency"], user.locale
                    ),
                    "type_label": _type_label(row["type"]),
                    "created_at": parse_datetime(row["created"]),
                }
                for row in page["data"]
            ]
            query = "&".join(f"{k}={v}" for k, v in raw.items() if v)
            context.update(raw=raw, rows=rows, has_more=page["has_more"], query=query)
    template = "portal/_history_rows.html" if request.htmx else "portal/history.html"  # type: ignore[attr-defined]
    return render(request, template, context)


def _type_choices() -> list[tuple[str, str]]:
    return [
        (key, _type_label(key))
        for key in ("topup", "bonus", "charge", "reversal", "adjustment", "refund")
    ]


def _type_label(key: str) -> str:
    labels = {
        "topup": _("Top-up"),
        "bonus": _("Bonus"),
        "charge": _("Usage"),
        "reversal": _("Reversal"),
        "adjustment": _("Adjustment"),
        "refund": _("Refund"),
    }
    return labels.get(key, key)


@require_GET
@portal_login_required
def history_csv(request: HttpRequest, wallet_id: str) -> HttpResponse | StreamingHttpResponse:
    user = portal_user(request)
    wallet = _wallet(user, wallet_id)
    try:
        filters, _raw = _history_filters(request, wallet)
        queryset = history.entries(wallet, **filters)
    except KassaError as exc:
        return HttpResponse(exc.localized(), status=400, content_type="text/plain; charset=utf-8")
    stream = (
        history.csv_stream_async(queryset)
        if isinstance(request, ASGIRequest)
        else history.csv_stream(queryset)
    )
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{wallet.id}-transactions.csv"'
    return response
