"""Signals other apps (the SSE stream, the portal) listen to.

``balance_changed`` is sent once per committed change of a wallet's balance, from
``transaction.on_commit`` so listeners never see a balance that was rolled back. Keyword arguments:

- ``wallet_id`` (str, ``wal_...``), ``organization_id`` (str, ``org_...``)
- ``balance`` (int, minor units, after the change), ``currency`` (str, ISO 4217)
- ``sequence`` (int): the id of the newest ledger entry on the wallet's account. Entries on one
  account are inserted while its row is locked, so the number grows with every change in commit
  order: it serves as the SSE event id and for ``Last-Event-ID`` resume (a client that saw N has
  seen every change up to and including N; the current state always carries the largest).
  ``balance_state(wallet.ledger_account_id)`` below returns the same (balance, sequence) pair.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

from kassa.ledger.models import LedgerAccount, LedgerEntry
from kassa.wallets import repository

balance_changed = Signal()


def send_balance_changed_on_commit(
    *,
    wallet_id: str,
    organization_id: str,
    balance: int,
    currency: str,
    sequence: int,
    using: str | None = None,
) -> None:
    """Queue ``balance_changed`` for when the current transaction commits (at once outside one).

    On PostgreSQL the change is also notified to the other server processes (`NOTIFY
    kassa_wallet_balance`) from inside the transaction, as a deferred write (sent with the
    COMMIT): PostgreSQL delivers a notification when its transaction commits and drops it when
    it rolls back."""
    from kassa.wallets.stream_hub import CHANNEL, BalanceEvent

    event = BalanceEvent(
        wallet_id=wallet_id,
        organization_id=organization_id,
        balance=balance,
        currency=currency,
        sequence=sequence,
    )
    repository.notify_balance_changed(CHANNEL, event.to_json())

    def send() -> None:
        balance_changed.send(
            sender="kassa.wallets",
            wallet_id=wallet_id,
            organization_id=organization_id,
            balance=balance,
            currency=currency,
            sequence=sequence,
        )

    transaction.on_commit(send, using=using, robust=True)


def balance_state(ledger_account_id: int) -> tuple[int, int]:
    """The wallet account's (balance, sequence) now; sequence 0 before its first entry."""
    newest = (
        LedgerEntry.objects.filter(account_id=ledger_account_id)
        .order_by("-id")
        .values_list("id", "balance_after")
        .first()
    )
    if newest is None:
        balance = LedgerAccount.objects.values_list("balance", flat=True).get(pk=ledger_account_id)
        return balance, 0
    balance_after, entry_id = newest[1], newest[0]
    assert balance_after is not None  # a wallet's balance is cached, never derived
    return balance_after, entry_id
