"""The database side of the live balance streams: who may watch which wallet, and its state now.

Everything here is synchronous ORM code; the ASGI stream app calls it through
`sync_to_async`, so a stream holds a thread only for these short look-ups, never while it waits.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def _release_connection() -> None:
    # Streams run outside Django's request cycle, which is what normally hands a connection
    # back to the pool; inside a test's transaction the connection must stay.
    if not connection.in_atomic_block:
        close_old_connections()


def _watched(**filters: str) -> WatchedWallet | None:
    from kassa.wallets.models import Wallet

    row = (
        Wallet.objects.filter(**filters)
        .values_list("id", "organization_id", "customer_id", "currency", "ledger_account_id")
        .first()
    )
    if row is None:
        return None
    return WatchedWallet(*row)


def wallet_for_api_key(secret: str | None, wallet_id: str) -> tuple[str, WatchedWallet | None]:
    """("ok", wallet), ("ok", None) for a wallet the key's organization does not have (404),
    or ("unauthenticated", None)."""
    try:
        key = authenticate_api_key(secret) if secret else None
        if key is None:
            return "unauthenticated", None
        return "ok", _watched(pk=wallet_id, organization_id=key.organization_id)
    finally:
        _release_connection()


def wallet_for_portal_session(
    session_key: str | None, wallet_id: str
) -> tuple[str, WatchedWallet | None]:
    """The same for a portal session cookie: only the signed-in customer's own wallets."""
    from importlib import import_module

    from django.conf import settings

    try:
        if not session_key:
            return "unauthenticated", None
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        customer_id = store.get(PORTAL_SESSION_CUSTOMER)
        if not customer_id:
            return "unauthenticated", None
        return "ok", _watched(pk=wallet_id, customer_id=customer_id)
    finally:
        _release_connection()


def current_event(wallet: WatchedWallet) -> BalanceEvent:
    from kassa.wallets.signals import balance_state

    try:
        balance, sequence = balance_state(wallet.ledger_account_id)
    finally:
        _release_connection()
    return BalanceEvent(
        wallet_id=wallet.wallet_id,
        organization_id=wallet.organization_id,
        balance=balance,
        currency=wallet.currency,
        sequence=sequence,
    )
