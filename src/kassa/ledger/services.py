"""Posting to the ledger: the only code that moves balances.

A posting batch runs in one database transaction:
1. the transactions are inserted first, sorted by idempotency key, with ON CONFLICT DO NOTHING,
   so a repeated key (also one racing in from another connection) posts nothing and returns
   the transaction that was posted first;
2. the affected accounts are locked in id order (no deadlocks between batches);
3. the postings are applied in order against the locked balances (each entry records the
   balance it left); if the batch would leave an account below its `min_balance`,
   `InsufficientFunds` is raised and everything rolls back (a CHECK constraint on the table
   refuses it too, whoever writes);
4. balances are written and entries inserted, each in one statement (`kassa.ledger.sql`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from kassa.core.errors import KassaError, StateConflict
from kassa.core.money import MAX_AMOUNT
from kassa.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from kassa.ledger.sql import AccountRow, EntryRow, LedgerSQL, TxnRow, dialect


class InsufficientFunds(KassaError):
    status = 402
    code = "insufficient_funds"
    default_message = "The balance is too low for this amount."

    def __init__(
        self,
        message: str | None = None,
        *,
        account_id: int | None = None,
        balance: int | None = None,
        required: int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, param=param)
        self.account_id = account_id
        self.balance = balance
        self.required = required


class LedgerIdempotencyConflict(KassaError):
    status = 409
    type = "idempotency_error"
    code = "ledger_idempotency_conflict"
    default_message = "This idempotency key was already used for a different posting."


class AlreadyReversed(StateConflict):
    code = "already_reversed"
    default_message = "This transaction has already been reversed."


MIN_BALANCE_CONSTRAINT = "ledger_account_min_balance"


class LedgerIntegrityError(Exception):
    """A service asked for something the ledger must never do (a programming error)."""


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: int
    amount: int


@dataclass(frozen=True)
class TransferSpec:
    kind: str
    idempotency_key: str
    postings: tuple[Posting, ...]
    reference: str = ""
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    reverses_id: int | None = None


@dataclass(frozen=True, slots=True)
class Posted:
    transaction_id: int
    idempotency_key: str
    replayed: bool  # True when the key had been posted before and nothing new was written


def transfer(
    *,
    kind: str,
    idempotency_key: str,
    source: LedgerAccount | int,
    destination: LedgerAccount | int,
    amount: int,
    reference: str = "",
    description: str = "",
    metadata: dict[str, Any] | None = None,
) -> TransferSpec:
    """A two-legged transfer of `amount` from `source` to `destination`."""
    src = source.pk if isinstance(source, LedgerAccount) else source
    dst = destination.pk if isinstance(destination, LedgerAccount) else destination
    return TransferSpec(
        kind=kind,
        idempotency_key=idempotency_key,
        postings=(Posting(src, -amount), Posting(dst, amount)),
        reference=reference,
        description=description,
        metadata=metadata or {},
    )


def get_or_create_account(
    organization_id: str,
    *,
    kind: str,
    currency: str,
    owner_id: str = "",
    name: str = "",
    min_balance: int | None = None,
) -> LedgerAccount:
    lookup = {
        "organization_id": organization_id,
        "kind": kind,
        "owner_id": owner_id,
        "currency": currency,
    }
    account = LedgerAccount.objects.filter(**lookup).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(**lookup, name=name, min_balance=min_balance)
    except IntegrityError:
        return LedgerAccount.objects.get(**lookup)


def set_min_balance(account: LedgerAccount, min_balance: int | None) -> None:
    """Change an account's floor (a credit limit). Refused if the balance is already below."""
    with transaction.atomic():
        locked = LedgerAccount.objects.select_for_update().get(pk=account.pk)
        if min_balance is not None and locked.balance < min_balance:
            raise StateConflict("The balance is already below the requested lowest balance.")
        LedgerAccount.objects.filter(pk=account.pk).update(min_balance=min_balance)
        account.min_balance = min_balance


def post(organization_id: str, spec: TransferSpec) -> Posted:
    return post_batch(organization_id, [spec])[0]


def post_batch(organization_id: str, specs: Sequence[TransferSpec]) -> list[Posted]:
    """Post many transactions atomically: all of them, or (on any refusal) none.

    A batch is checked as a whole: it is refused when it would leave an account below its
    `min_balance`; what happens between its postings is never visible to anyone.
    """
    unique = _dedupe(specs)
    for spec in unique.values():
        _check_shape(spec)
    sql = dialect()
    account_ids = sorted({p.account_id for spec in unique.values() for p in spec.postings})
    try:
        with transaction.atomic(), sql.batch():
            now = timezone.now()
            inserted, accounts = sql.insert_and_lock(
                organization_id, [_txn_row(spec) for spec in unique.values()], now, account_ids
            )
            fresh = [spec for key, spec in unique.items() if key in inserted]
            if fresh:
                _apply(sql, organization_id, fresh, inserted, accounts, now)
            results = {key: Posted(pk, key, replayed=False) for key, pk in inserted.items()}
            replayed_keys = [key for key in unique if key not in inserted]
            if replayed_keys:
                results.update(_replays(organization_id, {k: unique[k] for k in replayed_keys}))
    except IntegrityError as exc:
        if MIN_BALANCE_CONSTRAINT in str(exc):
            raise InsufficientFunds() from exc
        raise
    return [results[spec.idempotency_key] for spec in specs]


def reverse(
    organization_id: str,
    transaction_id: int,
    *,
    idempotency_key: str,
    kind: str = "reversal",
    description: str = "",
    metadata: dict[str, Any] | None = None,
) -> Posted:
    """Post the mirror image of a transaction. Each transaction can be reversed once."""
    original = LedgerTransaction.objects.get(pk=transaction_id, organization_id=organization_id)
    entries = list(original.entries.order_by("id").values_list("account_id", "amount"))
    spec = TransferSpec(
        kind=kind,
        idempotency_key=idempotency_key,
        postings=tuple(Posting(account, -amount) for account, amount in entries),
        reference=original.reference,
        description=description or f"Reversal of {original.kind} {original.reference}".strip(),
        metadata=metadata or {},
        reverses_id=original.pk,
    )
    try:
        return post(organization_id, spec)
    except IntegrityError as exc:
        if LedgerTransaction.objects.filter(reverses_id=original.pk).exists():
            raise AlreadyReversed() from exc
        raise


def balance_of(account_id: int) -> int:
    return LedgerAccount.objects.values_list("balance", flat=True).get(pk=account_id)


# -- internals -----------------------------------------------------------------------------


def _dedupe(specs: Iterable[TransferSpec]) -> dict[str, TransferSpec]:
    unique: dict[str, TransferSpec] = {}
    for spec in specs:
        seen = unique.get(spec.idempotency_key)
        if seen is None:
            unique[spec.idempotency_key] = spec
        elif Counter(seen.postings) != Counter(spec.postings):
            raise LedgerIdempotencyConflict(
                f"Idempotency key {spec.idempotency_key!r} appears twice with different postings."
            )
    return unique


def _check_shape(spec: TransferSpec) -> None:
    if not spec.idempotency_key or len(spec.idempotency_key) > 255:
        raise LedgerIntegrityError("an idempotency key of 1 to 255 characters is required")
    if len(spec.postings) < 2:
        raise LedgerIntegrityError("a transaction needs at least two entries")
    total = 0
    for posting in spec.postings:
        amount = posting.amount
        if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
            raise LedgerIntegrityError(f"entry amounts are non-zero integers, got {amount!r}")
        if abs(amount) > MAX_AMOUNT:
            raise LedgerIntegrityError(f"entry amount {amount} exceeds {MAX_AMOUNT}")
        total += amount
    if total != 0:
        raise LedgerIntegrityError(f"entries of {spec.idempotency_key!r} sum to {total}, not 0")


def _txn_row(spec: TransferSpec) -> TxnRow:
    return TxnRow(
        kind=spec.kind,
        reference=spec.reference[:64],
        key=spec.idempotency_key,
        description=spec.description[:500],
        metadata=json.dumps(spec.metadata, separators=(",", ":"), sort_keys=True),
        reverses_id=spec.reverses_id,
    )


def _replays(organization_id: str, specs: dict[str, TransferSpec]) -> dict[str, Posted]:
    existing = dict(
        LedgerTransaction.objects.filter(
            organization_id=organization_id, idempotency_key__in=list(specs)
        ).values_list("idempotency_key", "id")
    )
    entries: dict[int, Counter[Posting]] = {pk: Counter() for pk in existing.values()}
    for txn_id, account_id, amount in LedgerEntry.objects.filter(
        transaction_id__in=list(existing.values())
    ).values_list("transaction_id", "account_id", "amount"):
        entries[txn_id][Posting(account_id, amount)] += 1
    results = {}
    for key, spec in specs.items():
        pk = existing.get(key)
        if pk is None:  # pragma: no cover - the conflicting row must exist once we get here
            raise LedgerIntegrityError(f"idempotency key {key!r} conflicted but was not found")
        if entries[pk] != Counter(spec.postings):
            raise LedgerIdempotencyConflict(
                f"Idempotency key {key!r} was already used for a different posting."
            )
        results[key] = Posted(pk, key, replayed=True)
    return results


def _apply(
    sql: LedgerSQL,
    organization_id: str,
    specs: list[TransferSpec],
    txn_ids: dict[str, int],
    accounts: dict[int, AccountRow],
    now: Any,
) -> None:
    account_ids = {p.account_id for spec in specs for p in spec.postings}
    missing = account_ids - accounts.keys()
    if missing:
        raise LedgerIntegrityError(f"unknown ledger accounts {sorted(missing)}")
    balances = {pk: row.balance for pk, row in accounts.items()}
    entries: list[EntryRow] = []
    for spec in specs:
        currencies = {accounts[p.account_id].currency for p in spec.postings}
        if len(currencies) != 1:
            raise LedgerIntegrityError(f"{spec.idempotency_key!r} mixes currencies {currencies}")
        for posting in spec.postings:
            account = accounts[posting.account_id]
            if account.organization_id != organization_id:
                raise LedgerIntegrityError("a posting touches another organization's account")
            balances[posting.account_id] += posting.amount
            entries.append(
                EntryRow(
                    txn_ids[spec.idempotency_key],
                    posting.account_id,
                    posting.amount,
                    account.currency,
                    balances[posting.account_id],
                )
            )
    for pk, account in accounts.items():
        floor = account.min_balance
        if floor is not None and balances[pk] < floor and balances[pk] < account.balance:
            raise InsufficientFunds(
                account_id=pk, balance=account.balance, required=account.balance - balances[pk]
            )
    changed = {pk: value for pk, value in balances.items() if value != accounts[pk].balance}
    sql.write(changed, entries, now)
