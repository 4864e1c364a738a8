"""The wallets' hot statements: the wallet a charge debits, looked up on every charge request
(on PostgreSQL's fast path when it is active, through the ORM otherwise), and the notification
of a balance change to the other server processes."""

from __future__ import annotations

from kassa.platform import fastdb, pg
from kassa.wallets.models import Wallet


def wallet_for_charge(wallet_id: str, organization_id: str) -> Wallet | None:
    """The organization's wallet, without its ledger account row (a charge needs only the
    account's id)."""
    if fastdb.active():
        return fastdb.get(Wallet, "id = %s AND organization_id = %s", [wallet_id, organization_id])
    return Wallet.objects.filter(pk=wallet_id, organization_id=organization_id).first()


def notify_balance_changed(channel: str, payload: str) -> None:
    """Tell every server process's live-balance hub (NOTIFY, delivered when the transaction
    commits; on the fast path it travels with the COMMIT). Nothing on SQLite, where one
    process serves and the others are polled."""
    pg.notify(channel, payload)
