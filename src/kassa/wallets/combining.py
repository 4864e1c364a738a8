"""Concurrent charges of one wallet, posted together.

Every charge locks its wallet's ledger account row until its transaction commits, so the
charges of one hot wallet follow one another at the pace of one commit each, and a queue of
transactions waiting on one row costs PostgreSQL several times the work of the updates
(docs/ledger.md). Here the charges of one wallet that arrive in one process while another is
being posted wait on a Python lock, and the next of them posts all that have gathered (up to
`MAX_TOGETHER`) as one ledger batch in one transaction: one row lock, one commit for all.

Each charge keeps everything it would have had alone: its own ledger transaction and entry,
the balance after it (the batch's entries follow one another), its own event, its idempotency
key (a key repeated within a batch is charged once; the repeat answers as a replay, as it would
have after the first had committed), and its own refusal: should the batch take the wallet
below its floor, its charges are posted one by one instead, each behind a savepoint, so those
that fit go through and the rest get their 402. Charges of different wallets never share a
batch. The database stays the only arbiter across processes: this only decides how many
charges one transaction carries.

Every charge ends with an outcome of its own, whatever happens to its batch. When a batch fails
(nothing of it committed), its charges are posted again one by one, each in its own
transaction: one charge the database refuses fails alone, with its own exception. When the
thread posting a batch is interrupted by something that is not an Exception (KeyboardInterrupt,
SystemExit), the charges it had taken end with `ChargeInterrupted` (503: send it again with the
same Idempotency-Key, which replays it if it did commit), so no thread waits for them.

Two exceptions keep this safe. A charge made inside a caller's transaction is posted alone in
that transaction: whether it happens must follow the caller's commit or rollback, and no other
charge may ride on them. And a charge takes its thread's database connection before it queues:
whichever thread leads posts with its own connection, so with a bounded pool of connections
(KASSA_DATABASE_POOL_SIZE) a leader without one could otherwise wait for a connection held by
the very charges waiting for it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from kassa.core.errors import KassaError
from kassa.ledger import services as ledger

MAX_TOGETHER = 100


class ChargeInterrupted(KassaError):
    status = 503
    type = "api_error"
    code = "charge_interrupted"
    default_message = (
        "The charge was interrupted before its outcome was known. Send it again with the same "
        "Idempotency-Key: a charge that did go through is then answered, not made twice."
    )


@dataclass(eq=False)
class PendingCharge:
    wallet: Any  # kassa.wallets.models.Wallet
    spec: ledger.TransferSpec
    charge_id: str
    amount: int
    description: str
    metadata: dict[str, Any]
    result: dict[str, Any] | None = field(default=None, init=False)
    error: BaseException | None = field(default=None, init=False)

    @property
    def settled(self) -> bool:
        return self.result is not None or self.error is not None


class _Queue:
    def __init__(self) -> None:
        self.leader = threading.Lock()  # held while a batch is posted
        self.mutex = threading.Lock()  # guards `waiting`
        self.waiting: dict[int, list[PendingCharge]] = {}  # ledger account -> charges


# A fixed set of queues, chosen by the account's hash: two wallets that share one only post
# one after the other in this process.
_QUEUES = tuple(_Queue() for _ in range(256))


def post_charge(charge: PendingCharge) -> dict[str, Any]:
    """Post `charge` (with whatever charges of its wallet are waiting); its result, or raise
    its refusal."""
    if connection.in_atomic_block:
        with transaction.atomic():
            _post_in_transaction([charge])
        return _outcome(charge)
    connection.ensure_connection()
    account = charge.wallet.ledger_account_id
    queue = _QUEUES[hash(account) % len(_QUEUES)]
    with queue.mutex:
        queue.waiting.setdefault(account, []).append(charge)
    with queue.leader:
        while not charge.settled:
            with queue.mutex:
                waiting = queue.waiting.pop(account, [])
                batch, rest = waiting[:MAX_TOGETHER], waiting[MAX_TOGETHER:]
                if rest:
                    queue.waiting[account] = rest
            if not batch:
                # A leader settles every charge it takes before it lets go of the lead, so an
                # unsettled charge is still queued; never spin holding the lead if it is not.
                raise RuntimeError(f"charge {charge.charge_id} left the queue unsettled")
            _post_batch(batch)
    return _outcome(charge)


def _outcome(charge: PendingCharge) -> dict[str, Any]:
    if charge.error is not None:
        raise charge.error
    assert charge.result is not None
    return charge.result


def _post_batch(batch: list[PendingCharge]) -> None:
    try:
        try:
            with transaction.atomic():
                _post_in_transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            # Nothing of the batch committed; whichever charge caused it fails alone.
            for charge in batch:
                _post_alone(charge)
    finally:
        for charge in batch:
            if not charge.settled:
                # Interrupted by a BaseException, which goes on up the leader's own stack.
                _fail(charge, ChargeInterrupted())


def _post_alone(charge: PendingCharge) -> None:
    charge.result = charge.error = None
    try:
        with transaction.atomic():
            _post_in_transaction([charge])
    except Exception as exc:
        _fail(charge, exc)


def _fail(charge: PendingCharge, error: BaseException) -> None:
    charge.result = None
    charge.error = error


def _post_in_transaction(batch: list[PendingCharge]) -> None:
    from kassa.wallets.services import InsufficientFunds, charged  # services import this module

    organization_id = batch[0].wallet.organization_id
    postings: list[ledger.Posted | None]
    try:
        postings = list(ledger.post_batch(organization_id, [c.spec for c in batch]))
    except ledger.InsufficientFunds:
        postings = []
        for charge in batch:
            try:
                postings.append(ledger.post(organization_id, charge.spec))
            except ledger.InsufficientFunds as exc:
                refusal = InsufficientFunds(param="amount")
                refusal.__cause__ = exc
                charge.error = refusal
                postings.append(None)
    first: dict[str, PendingCharge] = {}
    for charge, posted in zip(batch, postings, strict=True):
        if posted is None:
            continue
        original = first.get(posted.idempotency_key)
        if original is not None:  # the same key twice in this batch: charged once
            assert original.result is not None
            charge.result = {**original.result, "replayed": True}
            continue
        first[posted.idempotency_key] = charge
        charge.result = charged(charge, posted, timezone.now())
