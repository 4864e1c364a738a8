"""The public JSON form of wallet objects (API answers and event payloads)."""

from __future__ import annotations

from typing import Any

from kassa.core.representations import iso
from kassa.ledger.models import LedgerEntry
from kassa.payments.representations import payment_dict
from kassa.wallets.models import AutoTopUpAttempt, TopUp, Wallet, WalletSettings
from kassa.wallets.rules import SETTINGS_FIELDS

# Ledger transaction kinds on a wallet account and the history type each one shows as.
KIND_TO_TYPE = {
    "payment": "topup",
    "wallet_bonus": "bonus",
    "wallet_charge": "charge",
    "wallet_charge_reversal": "reversal",
    "wallet_adjustment": "adjustment",
    "refund_hold": "refund",
    "refund_release": "refund",
}
TYPE_TO_KINDS: dict[str, list[str]] = {}
for _kind, _type in KIND_TO_TYPE.items():
    TYPE_TO_KINDS.setdefault(_type, []).append(_kind)


def wallet_dict(wallet: Wallet, *, balance: int | None = None) -> dict[str, Any]:
    account = wallet.ledger_account
    floor = account.min_balance or 0
    current = account.balance if balance is None else balance
    return {
        "id": wallet.id,
        "object": "wallet",
        "customer": wallet.customer_id,
        "currency": wallet.currency,
        "balance": current,
        # What may still be charged: the balance plus any credit limit.
        "available": current - floor,
        "credit_limit": -floor,
        "low_balance_thresholds": wallet.low_balance_thresholds,
        "auto_topup": auto_topup_dict(wallet),
        "metadata": wallet.metadata,
        "created": iso(wallet.created_at),
    }


def auto_topup_dict(wallet: Wallet) -> dict[str, Any]:
    return {
        "enabled": wallet.auto_topup_enabled,
        "threshold": wallet.auto_topup_threshold,
        "amount": wallet.auto_topup_amount,
        "payment_method": wallet.auto_topup_payment_method_id,
        "consecutive_failures": wallet.auto_topup_failures,
        "disabled_reason": wallet.auto_topup_disabled_reason or None,
    }


def charge_dict(
    *,
    charge_id: str,
    wallet: Wallet,
    amount: int,
    description: str,
    metadata: dict[str, Any],
    balance_after: int | None,
    created: Any,
    reversed_: bool = False,
    replayed: bool = False,
) -> dict[str, Any]:
    return {
        "id": charge_id,
        "object": "wallet_charge",
        "wallet": wallet.id,
        "amount": amount,
        "currency": wallet.currency,
        "description": description or None,
        "metadata": metadata,
        "balance_after": balance_after,
        "reversed": reversed_,
        "replayed": replayed,
        "created": iso(created),
    }


def topup_dict(topup: TopUp) -> dict[str, Any]:
    payment = topup.payment
    payment_part = payment_dict(payment) if payment is not None else None
    return {
        "id": topup.id,
        "object": "wallet_topup",
        "wallet": topup.wallet_id,
        "status": topup.status,
        "source": topup.source,
        "amount": topup.amount,
        "bonus_amount": topup.bonus_amount,
        "currency": topup.currency,
        "payment": payment_part,
        "created": iso(topup.created_at),
        "succeeded_at": iso(topup.succeeded_at),
    }


def attempt_dict(attempt: AutoTopUpAttempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "object": "wallet_auto_topup_attempt",
        "wallet": attempt.wallet_id,
        "status": attempt.status,
        "trigger": attempt.trigger,
        "amount": attempt.amount,
        "currency": attempt.currency,
        "balance_at_start": attempt.balance_at_start,
        "topup": attempt.topup_id,
        "payment": attempt.topup.payment_id if attempt.topup_id and attempt.topup else None,
        "failure_code": attempt.failure_code or None,
        "failure_message": attempt.failure_message or None,
        "created": iso(attempt.created_at),
        "finished_at": iso(attempt.finished_at),
    }


def settings_dict(found: WalletSettings) -> dict[str, Any]:
    return {
        "object": "wallet_settings",
        "currency": found.currency,
        **{name: getattr(found, name) for name in SETTINGS_FIELDS},
    }


def transaction_dict(entry: LedgerEntry, wallet_id: str) -> dict[str, Any]:
    txn = entry.transaction
    return {
        "id": f"wtx_{entry.pk}",
        "object": "wallet_transaction",
        "wallet": wallet_id,
        "type": KIND_TO_TYPE.get(txn.kind, txn.kind),
        "amount": entry.amount,
        "currency": entry.currency,
        "balance_after": entry.balance_after,
        "description": txn.description or None,
        "reference": txn.reference or None,
        "metadata": txn.metadata,
        "created": iso(entry.created_at),
    }
