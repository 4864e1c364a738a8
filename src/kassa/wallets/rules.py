"""An organization's wallet rules per currency: credit limit, top-up bounds, bonus tiers,
auto top-up cooldown and daily cap.

Bonus rounding: a tier grants `basis_points` hundredths of a percent of the top-up amount,
computed with `kassa.core.money.percent_of`, the project's one rounding rule (round half up to
the minor unit: 5 % of 1,010 is 50.5 and becomes 51). The organization owns the remainder.
The highest tier whose `min_amount` the top-up reaches applies; tiers do not stack.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from kassa.core import audit
from kassa.core.actors import Actor
from kassa.core.errors import InvalidRequest, StateConflict
from kassa.core.models import Organization
from kassa.core.money import MAX_AMOUNT, Money, normalize_currency, percent_of
from kassa.ledger.models import LedgerAccount
from kassa.wallets.models import Wallet, WalletSettings

MAX_TIERS = 20
SETTINGS_FIELDS = (
    "credit_limit",
    "min_topup",
    "max_topup",
    "bonus_tiers",
    "auto_topup_cooldown_minutes",
    "auto_topup_daily_limit",
)


def settings_for(organization_id: str, currency: str) -> WalletSettings:
    """The saved rules, or the defaults (an unsaved row) when the organization set none."""
    found = WalletSettings.objects.filter(
        organization_id=organization_id, currency=currency
    ).first()
    return found or WalletSettings(organization_id=organization_id, currency=currency)


def bonus_for(rules: WalletSettings, amount: int) -> int:
    """The bonus a top-up of `amount` earns under `rules` (0 without a matching tier)."""
    best = None
    for tier in rules.bonus_tiers:
        if amount >= tier["min_amount"] and (best is None or tier["min_amount"] > best[0]):
            best = (tier["min_amount"], tier["basis_points"])
    return percent_of(amount, best[1]) if best else 0


def check_topup_amount(rules: WalletSettings, amount: int, param: str = "amount") -> None:
    """Refuse an amount outside the organization's bounds; the message shows the bound as
    money (a page shows it translated and in its own format, `KassaError.localized`)."""
    if amount < rules.min_topup:
        raise InvalidRequest(
            gettext_noop("The smallest top-up is %(amount)s."),
            param=param,
            params={"amount": Money(rules.min_topup, rules.currency)},
        )
    if rules.max_topup is not None and amount > rules.max_topup:
        raise InvalidRequest(
            gettext_noop("The largest top-up is %(amount)s."),
            param=param,
            params={"amount": Money(rules.max_topup, rules.currency)},
        )


def _int(value: Any, param: str, *, minimum: int = 0, maximum: int = MAX_AMOUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidRequest(
            f"{param} must be an integer from {minimum} to {maximum}.", param=param
        )
    return value


def _tiers(value: Any) -> list[dict[str, int]]:
    if not isinstance(value, list) or len(value) > MAX_TIERS:
        raise InvalidRequest(
            f"bonus_tiers is a list of at most {MAX_TIERS} tiers.", param="bonus_tiers"
        )
    tiers: list[dict[str, int]] = []
    for index, tier in enumerate(value):
        param = f"bonus_tiers[{index}]"
        if not isinstance(tier, dict) or set(tier) != {"min_amount", "basis_points"}:
            raise InvalidRequest(
                'Each tier is {"min_amount": <minor units>, "basis_points": <1-10000>}.',
                param=param,
            )
        tiers.append(
            {
                "min_amount": _int(tier["min_amount"], f"{param}.min_amount", minimum=1),
                "basis_points": _int(
                    tier["basis_points"], f"{param}.basis_points", minimum=1, maximum=10_000
                ),
            }
        )
    amounts = [t["min_amount"] for t in tiers]
    if len(set(amounts)) != len(amounts):
        raise InvalidRequest("Two bonus tiers start at the same amount.", param="bonus_tiers")
    return sorted(tiers, key=lambda t: t["min_amount"])


def update_settings(
    organization: Organization, currency: Any, changes: dict[str, Any], *, actor: Actor
) -> WalletSettings:
    """Change the rules; a new credit limit applies to every wallet in that currency at once
    (refused when a wallet is already below the new floor)."""
    currency = normalize_currency(currency)
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown setting {sorted(unknown)[0]!r}.", param=sorted(unknown)[0])
    with transaction.atomic():
        rules, _ = WalletSettings.objects.select_for_update().get_or_create(
            organization=organization, currency=currency
        )
        before = {name: getattr(rules, name) for name in SETTINGS_FIELDS}
        for name, value in changes.items():
            if name == "bonus_tiers":
                value = _tiers(value)
            elif name == "max_topup" and value is None:
                pass
            elif name in ("auto_topup_cooldown_minutes", "auto_topup_daily_limit"):
                value = _int(value, name, maximum=100_000)
            else:
                value = _int(value, name, minimum=1 if name != "credit_limit" else 0)
            setattr(rules, name, value)
        if rules.max_topup is not None and rules.max_topup < rules.min_topup:
            raise InvalidRequest("max_topup is below min_topup.", param="max_topup")
        rules.updated_at = timezone.now()
        rules.save()
        if rules.credit_limit != before["credit_limit"]:
            _apply_credit_limit(organization.id, currency, rules.credit_limit)
        after = {name: getattr(rules, name) for name in SETTINGS_FIELDS}
        audit.record(
            actor=actor,
            action="wallet_settings.updated",
            organization_id=organization.id,
            obj=rules,
            before=before,
            after=after,
        )
    return rules


def _apply_credit_limit(organization_id: str, currency: str, credit_limit: int) -> None:
    accounts = LedgerAccount.objects.filter(
        pk__in=Wallet.objects.filter(organization_id=organization_id, currency=currency).values(
            "ledger_account_id"
        )
    )
    floor = -credit_limit
    # Locked in id order like every ledger writer, so no deadlock with charges.
    locked = list(accounts.order_by("pk").select_for_update().values_list("pk", "balance"))
    if any(balance < floor for _, balance in locked):
        raise StateConflict(
            "A wallet is already below the new credit limit; settle it first.",
            param="credit_limit",
        )
    accounts.update(min_balance=floor)
