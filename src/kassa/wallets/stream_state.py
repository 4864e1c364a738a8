"""The database side of the live balance streams: who may watch which wallet, and its state now.

Everything here is synchronous ORM code; the ASGI stream app calls it through
`sync_to_async`, so a stream holds a thread only for these short look-ups, never while it waits.
Opening a stream costs one query for the wallet and its newest ledger entry, plus the key or
session look-up; API keys come from the process's key cache (kassa.platform.hotcache), so a crowd
of streams reconnecting at once (after a deploy) does not look the same key up thousands of
times, and a revoked key stops opening streams as soon as the revocation is committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import close_old_connections, connection

from kassa.core.services import authenticate_api_key
from kassa.wallets.stream_hub import BalanceEvent

PORTAL_SESSION_CUSTOMER = "kassa_portal_customer"


@dataclass(frozen=True)
class WatchedWallet:
    wallet_id: str
    organization_id: str
    customer_id: str
    currency: str
    ledger_account_id: int


@dataclass(frozen=True)
class Opened:
    """The outcome of a stream's look-up: "ok" with the wallet and its state now,
    "unauthenticated", or "missing" (no such wallet for this key or customer)."""

    status: str
    wallet: WatchedWallet | None = None
    state: BalanceEvent | None = None


def release_connection() -> None:
    # Streams run outside Django's request cycle, which is what normally hands a connection
    # back to the pool; inside a test's transaction the connection must stay.
    if not connection.in_atomic_block:
        close_old_connections()


def _organization_for_key(secret: str) -> str | None:
    key = authenticate_api_key(secret)
    return key.organization_id if key is not None else None


def _open(**filters: str) -> Opened:
    from django.db.models import OuterRef, Subquery

    from kassa.ledger.models import LedgerEntry
    from kassa.wallets.models import Wallet

    newest = LedgerEntry.objects.filter(account_id=OuterRef("ledger_account_id")).order_by("-id")
    row: Any = (
        Wallet.objects.filter(**filters)
        .annotate(
            sequence=Subquery(newest.values("id")[:1]),
            balance_after=Subquery(newest.values("balance_after")[:1]),
        )
        .values_list(
            "id",
            "organization_id",
            "customer_id",
            "currency",
            "ledger_account_id",
            "sequence",
            "balance_after",
            "ledger_account__balance",
        )
        .first()
    )
    if row is None:
        return Opened("missing")
    wallet = WatchedWallet(*row[:5])
    sequence, balance_after, account_balance = row[5:]
    # Before its first entry a wallet's state is its account's balance, sequence 0.
    state = BalanceEvent(
        wallet_id=wallet.wallet_id,
        organization_id=wallet.organization_id,
        balance=account_balance if sequence is None else balance_after,
        currency=wallet.currency,
        sequence=sequence or 0,
    )
    return Opened("ok", wallet, state)


def open_for_api_key(secret: str | None, wallet_id: str) -> Opened:
    try:
        organization_id = _organization_for_key(secret) if secret else None
        if organization_id is None:
            return Opened("unauthenticated")
        return _open(pk=wallet_id, organization_id=organization_id)
    finally:
        release_connection()


def open_for_portal_session(session_key: str | None, wallet_id: str) -> Opened:
    """Only the signed-in customer's own wallets."""
    from importlib import import_module

    from django.conf import settings

    try:
        if not session_key:
            return Opened("unauthenticated")
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        customer_id = store.get(PORTAL_SESSION_CUSTOMER)
        if not customer_id:
            return Opened("unauthenticated")
        return _open(pk=wallet_id, customer_id=customer_id)
    finally:
        release_connection()


def current_event(wallet: WatchedWallet) -> BalanceEvent:
    """The wallet's state now (after a resync)."""
    from kassa.wallets.signals import balance_state

    try:
        balance, sequence = balance_state(wallet.ledger_account_id)
    finally:
        release_connection()
    return BalanceEvent(
        wallet_id=wallet.wallet_id,
        organization_id=wallet.organization_id,
        balance=balance,
        currency=wallet.currency,
        sequence=sequence,
    )
