"""Getting a committed balance change to every stream that watches the wallet.

The `balance_changed` signal is sent after the commit. Its receiver here hands the change to
the hubs of this process at once; on PostgreSQL every other server process hears of it through
`NOTIFY kassa_wallet_balance`, sent inside the changing transaction
(`send_balance_changed_on_commit`) and delivered by PostgreSQL at its commit; each process's hub
LISTENs on one connection (`postgres_listener`). A stream that gets the same change twice
(locally and through NOTIFY) sends it once: it only sends sequences newer than the last one it
sent.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings

from kassa.platform import listen
from kassa.wallets.signals import balance_changed
from kassa.wallets.stream_hub import (
    CHANNEL,
    BalanceEvent,
    Hub,
    ListenerFactory,
    dispatch_notification,
    publish_local,
)

logger = logging.getLogger("kassa.wallets.stream")


def on_balance_changed(
    sender: Any,
    *,
    wallet_id: str,
    organization_id: str,
    balance: int,
    currency: str,
    sequence: int,
    **kwargs: Any,
) -> None:
    event = BalanceEvent(
        wallet_id=wallet_id,
        organization_id=organization_id,
        balance=balance,
        currency=currency,
        sequence=sequence,
    )
    publish_local(event)


def connect_receiver() -> None:
    balance_changed.connect(on_balance_changed, dispatch_uid="kassa.wallets.stream_publish")


async def postgres_listener(hub: Hub) -> None:
    """LISTEN for this process and dispatch to the hub (kassa.platform.listen reconnects with
    backoff). After a reconnect every stream resynchronises from the database, because
    notifications sent while the connection was down are lost."""
    connected_before = False

    def listening() -> None:
        nonlocal connected_before
        hub.listening.set()
        if connected_before:
            hub.resync_all()
        connected_before = True

    await listen.listen_forever(
        CHANNEL,
        application_name="kassa-sse-listener",
        on_notify=lambda payload: dispatch_notification(hub, payload),
        on_listening=listening,
        on_lost=hub.listening.clear,
    )


def _newest_states(wallet_ids: list[str]) -> list[BalanceEvent]:
    """Each wallet's newest ledger entry (its balance and sequence), in one query per 500."""
    from django.db.models import OuterRef, Subquery

    from kassa.ledger.models import LedgerEntry
    from kassa.wallets.models import Wallet
    from kassa.wallets.stream_state import release_connection

    newest = LedgerEntry.objects.filter(account_id=OuterRef("ledger_account_id")).order_by("-id")
    events = []
    try:
        for start in range(0, len(wallet_ids), 500):
            rows = (
                Wallet.objects.filter(pk__in=wallet_ids[start : start + 500])
                .annotate(
                    sequence=Subquery(newest.values("id")[:1]),
                    balance=Subquery(newest.values("balance_after")[:1]),
                )
                .filter(sequence__isnull=False)
                .values_list("id", "organization_id", "currency", "sequence", "balance")
            )
            events += [
                BalanceEvent(
                    wallet_id=wid, organization_id=oid, balance=bal, currency=cur, sequence=seq
                )
                for wid, oid, cur, seq, bal in rows
            ]
    finally:
        release_connection()
    return events


async def sqlite_poller(hub: Hub) -> None:
    """On SQLite the web server is one process, but `kassa serve` runs the worker (which
    completes top-ups and auto top-ups) in another. Their changes are found by looking at the
    watched wallets' newest ledger entries every KASSA_SSE_POLL_SECONDS; changes made in this
    process still arrive at once through `publish_local`."""
    from asgiref.sync import sync_to_async

    hub.listening.set()
    seen: dict[str, int] = {}
    while True:
        await asyncio.sleep(settings.KASSA_SSE_POLL_SECONDS)
        wallet_ids = hub.subscribed_wallets()
        for gone in set(seen) - set(wallet_ids):
            del seen[gone]
        if not wallet_ids:
            continue
        try:
            states = await sync_to_async(_newest_states, thread_sensitive=False)(wallet_ids)
        except Exception as exc:  # a locked or busy database: try again next time
            logger.warning("SSE poll failed", extra={"error": str(exc)})
            continue
        for event in states:
            # A wallet's first look is dispatched too: a change committed between a stream's
            # start and that look would otherwise be lost. Streams drop events at or below the
            # sequence they have already sent, so this repeats nothing to them.
            if event.sequence > seen.get(event.wallet_id, 0):
                hub.dispatch(event)
            seen[event.wallet_id] = max(event.sequence, seen.get(event.wallet_id, 0))


def listener_for_database() -> ListenerFactory:
    """How this process hears about changes made by other processes: LISTEN on PostgreSQL,
    polling on SQLite."""
    if listen.available():
        return postgres_listener
    return sqlite_poller
