"""The wallets' hot read: the wallet a charge debits, looked up on every charge request, on
PostgreSQL's fast path when it is active and through the ORM otherwise."""

from __future__ import annotations

from kassa.platform import fastdb
from kassa.wallets.models import Wallet


def wallet_for_charge(wallet_id: str, organization_id: str) -> Wallet | None:
    """The organization's wallet, without its ledger account row (a charge needs only the
    account's id)."""
    if fastdb.active():
        return fastdb.get(Wallet, "id = %s AND organization_id = %s", [wallet_id, organization_id])
    return Wallet.objects.filter(pk=wallet_id, organization_id=organization_id).first()
