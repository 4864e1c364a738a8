"""Low-balance alerts: a wallet's thresholds (absolute amounts), each announced once per
downward crossing. The lowest threshold is the most urgent.

Called from `services.after_change` inside the transaction of the change, with the exact
balances before and after it (the wallet's account row is locked), so every crossing is seen
by exactly one change and needs no stored "armed" flag: once the balance is back above a
threshold, the next fall below it is a new crossing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kassa.core.money import format_money
from kassa.events.services import emit
from kassa.notifications.services import notify
from kassa.wallets.models import LowBalanceAlert

if TYPE_CHECKING:
    from kassa.wallets.models import Wallet

URGENCIES = ("critical", "high", "normal")


def urgency_of(threshold: int, thresholds: list[int]) -> str:
    """The lowest threshold is critical, the next high, any others normal."""
    rank = sorted(thresholds).index(threshold)
    return URGENCIES[min(rank, len(URGENCIES) - 1)]


def check_crossings(wallet: Wallet, *, before: int, after: int) -> list[LowBalanceAlert]:
    thresholds = list(wallet.low_balance_thresholds)
    # "Below t" means balance < t; a change crosses t when it starts at t or above.
    crossed = sorted(t for t in thresholds if after < t <= before)
    if not crossed:
        return []
    alerts = [
        LowBalanceAlert.objects.create(
            organization_id=wallet.organization_id,
            wallet=wallet,
            threshold=threshold,
            balance=after,
            urgency=urgency_of(threshold, thresholds),
        )
        for threshold in crossed
    ]
    # One message per change, for the most urgent threshold it crossed.
    worst = alerts[0]
    locale = wallet.customer.preferred_locale  # the locale notify() will choose
    notify(
        wallet.organization_id,
        "wallet.low_balance",
        customer_id=wallet.customer_id,
        context={
            "wallet_id": wallet.id,
            "balance": format_money(after, wallet.currency, locale),
            "threshold": format_money(worst.threshold, wallet.currency, locale),
            "urgency": worst.urgency,
        },
        dedupe_key=f"{worst.id}",
    )
    for alert in alerts:
        emit(
            wallet.organization_id,
            "wallet.low_balance",
            {
                "id": alert.id,
                "object": "wallet_low_balance_alert",
                "wallet": wallet.id,
                "customer": wallet.customer_id,
                "currency": wallet.currency,
                "threshold": alert.threshold,
                "balance": after,
                "urgency": alert.urgency,
            },
        )
    return alerts
