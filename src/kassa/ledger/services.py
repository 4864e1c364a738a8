"""Posting to the ledger: the only code that moves balances.

A posting batch is atomic: all of its transactions or none. Its accounts are locked in id
order (no deadlocks between batches); its transactions are inserted sorted by idempotency key
with ON CONFLICT DO NOTHING, so a repeated key (also one racing in from another connection)
posts nothing and returns the transaction posted first, after checking that its postings are
the same (else `LedgerIdempotencyConflict`); each entry records the balance it left; the
cached balances change in the same transaction. Refusals change nothing: `InsufficientFunds`
when an account would end below its `min_balance` (a CHECK constraint on the table refuses it,
whoever writes), `AlreadyReversed`, and `LedgerIntegrityError` for unknown or foreign accounts
or mixed currencies (programming errors).

Where the database can (PostgreSQL, `kassa.ledger.repository.posts_in_one_statement`), one
statement does all of it, so the locks are held for that statement and the commit only. Inside a
caller's transaction it runs behind a savepoint sent in the same round trip, so a refusal leaves
the caller's transaction usable; a single transaction outside one runs in autocommit (one round
trip in all); a batch outside one gets its own.

Elsewhere (SQLite, one writer at a time): read the accounts and the keys posted before, decide
every refusal, then write; a refusal writes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from kassa.core.errors import KassaError, StateConflict
from kassa.core.money import MAX_AMOUNT
from kassa.ledger import repository
from kassa.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from kassa.ledger.repository import AccountRow, EntryRow, NewEntry, TxnRow, WrittenEntry


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
REVERSED_ONCE_CONSTRAINT = "ledger_transaction_reversed_once"


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
    # account id -> (its balance after this transaction, the id of its last entry here), for
    # the accounts with a cached balance; empty for a replay
    balances: dict[int, tuple[int, int]] = field(default_factory=dict)


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
    derived: bool = False,
) -> LedgerAccount:
    """`derived`: a house account (clearing, revenue, usage...) whose balance is the sum of
    its entries rather than cached: postings never lock or update it, so the postings of a
    whole organization do not queue on it. It cannot have a floor."""
    if derived and min_balance is not None:
        raise LedgerIntegrityError("an account with a derived balance cannot have a floor")
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
            return LedgerAccount.objects.create(
                **lookup, name=name, min_balance=min_balance, derived=derived
            )
    except IntegrityError:
        return LedgerAccount.objects.get(**lookup)


AccountRef = LedgerAccount | int

# Account ids by (organization, kind, owner, currency). An account's identity never changes and
# accounts are never deleted, so the mapping needs no invalidation; it is only filled from
# committed rows (an account created in a transaction that rolls back must not be remembered).
_account_ids: dict[tuple[str, str, str, str], int] = {}


def account_id(
    organization_id: str,
    *,
    kind: str,
    currency: str,
    owner_id: str = "",
    name: str = "",
    min_balance: int | None = None,
    derived: bool = False,
) -> int:
    """The id of the account, created if missing: `get_or_create_account` without a query once
    this process has seen the account committed."""
    key = (organization_id, kind, owner_id, currency)
    found = _account_ids.get(key)
    if found is not None:
        return found
    pk: int = get_or_create_account(
        organization_id,
        kind=kind,
        currency=currency,
        owner_id=owner_id,
        name=name,
        min_balance=min_balance,
        derived=derived,
    ).pk

    def remember() -> None:
        _account_ids[key] = pk

    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(remember)
    else:
        remember()
    return pk


def set_min_balance(account: LedgerAccount, min_balance: int | None) -> None:
    """Change an account's floor (a credit limit). Refused if the balance is already below."""
    with transaction.atomic():
        locked = LedgerAccount.objects.select_for_update().get(pk=account.pk)
        if locked.derived and min_balance is not None:
            raise StateConflict("An account with a derived balance cannot have a floor.")
        if min_balance is not None and locked.balance < min_balance:
            raise StateConflict("The balance is already below the requested lowest balance.")
        LedgerAccount.objects.filter(pk=account.pk).update(min_balance=min_balance)
        account.min_balance = min_balance


def post(organization_id: str, spec: TransferSpec) -> Posted:
    return post_batch(organization_id, [spec])[0]


def post_batch(organization_id: str, specs: Sequence[TransferSpec]) -> list[Posted]:
    """Post many transactions atomically: all of them, or (on any refusal) none.

    A batch is checked as a whole: it is refused when it would leave an account below its
    `min_balance`; what happens between its postings is never visible to anyone. Inside a
    caller's transaction a refusal writes nothing and leaves that transaction usable.
    """
    unique = _dedupe(specs)
    for spec in unique.values():
        _check_shape(spec)
    if repository.posts_in_one_statement():
        results = _post_in_one_statement(organization_id, unique)
    else:
        results = _post_in_steps(organization_id, unique)
    return [results[spec.idempotency_key] for spec in specs]


def _post_in_one_statement(
    organization_id: str, unique: dict[str, TransferSpec]
) -> dict[str, Posted]:
    rows = [_txn_row(spec) for spec in unique.values()]
    entries = [
        NewEntry(key, posting.account_id, posting.amount)
        for key, spec in unique.items()
        for posting in spec.postings
    ]
    nested = connection.in_atomic_block
    try:
        if nested or len(unique) == 1:
            # Inside the caller's transaction, behind a savepoint; or one statement in
            # autocommit, which is a transaction by itself.
            return _run_one_statement(organization_id, unique, rows, entries, savepoint=nested)
        with transaction.atomic():
            return _run_one_statement(organization_id, unique, rows, entries, savepoint=False)
    except IntegrityError as exc:
        constraint = repository.violated_constraint(exc)
        if constraint == REVERSED_ONCE_CONSTRAINT:
            raise AlreadyReversed() from exc
        if constraint == MIN_BALANCE_CONSTRAINT:
            raise _insufficient_funds(organization_id, unique) from exc
        raise


def _run_one_statement(
    organization_id: str,
    unique: dict[str, TransferSpec],
    rows: list[TxnRow],
    entries: list[NewEntry],
    *,
    savepoint: bool,
) -> dict[str, Posted]:
    try:
        written = repository.post_in_one_statement(
            organization_id, rows, entries, timezone.now(), savepoint=savepoint
        )
    except IntegrityError:
        if savepoint:
            repository.rollback_to_savepoint()
        raise
    results: dict[str, Posted] = {}
    _collect(written, results)
    replayed = {key: spec for key, spec in unique.items() if key not in results}
    if replayed:
        try:
            existing = _existing_keys(organization_id, list(replayed))
            if len(existing) < len(replayed):
                # Nothing was inserted: the statement's own check of the accounts failed.
                _check_accounts(organization_id, unique.values(), _account_metadata(unique))
                raise LedgerIntegrityError("the posting was refused by the database")
            results.update(_replays(replayed, existing))
        except (LedgerIdempotencyConflict, LedgerIntegrityError):
            if savepoint:
                repository.rollback_to_savepoint()
            raise
    return results


def _post_in_steps(organization_id: str, unique: dict[str, TransferSpec]) -> dict[str, Posted]:
    """The same result in steps: read, decide every refusal, then write (one writer at a
    time: SQLite's IMMEDIATE transactions)."""
    account_ids = sorted({p.account_id for spec in unique.values() for p in spec.postings})
    own = nullcontext() if connection.in_atomic_block else transaction.atomic()
    with own:
        accounts, existing = repository.lock_and_find(organization_id, account_ids, sorted(unique))
        _check_accounts(
            organization_id,
            unique.values(),
            {pk: (row.organization_id, row.currency) for pk, row in accounts.items()},
        )
        fresh = [spec for key, spec in unique.items() if key not in existing]
        _check_not_reversed(fresh)
        new_entries, balances = _apply(fresh, accounts)
        results = _replays({k: unique[k] for k in unique if k in existing}, existing)
        if fresh:
            written = repository.write(
                organization_id,
                [_txn_row(spec) for spec in fresh],
                new_entries,
                balances,
                timezone.now(),
            )
            _collect(written, results)
    return results


def _collect(written: Sequence[WrittenEntry], results: dict[str, Posted]) -> None:
    """Add the new transactions of `written` to `results`, each with the balances its entries
    left on accounts that cache one."""
    for entry in written:
        posted = results.get(entry.key)
        if posted is None:
            posted = results[entry.key] = Posted(entry.transaction_id, entry.key, False)
        if entry.balance_after is not None:
            posted.balances[entry.account_id] = (entry.balance_after, entry.entry_id)


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
    return post(organization_id, spec)


def balance_of(account_id: int) -> int:
    """The account's balance: cached, or for a derived account the sum of its entries."""
    balance, derived = LedgerAccount.objects.values_list("balance", "derived").get(pk=account_id)
    if not derived:
        return int(balance)
    total = LedgerEntry.objects.filter(account_id=account_id).aggregate(total=Sum("amount"))
    return int(total["total"] or 0)


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
        metadata=json.dumps(spec.metadata, separators=(",", ":"), sort_keys=True)
        if spec.metadata
        else "{}",
        reverses_id=spec.reverses_id,
    )


def _check_accounts(
    organization_id: str, specs: Iterable[TransferSpec], meta: dict[int, tuple[str, str]]
) -> None:
    """Refused before anything is written: unknown or foreign accounts, mixed currencies."""
    for spec in specs:
        currencies = set()
        for posting in spec.postings:
            found = meta.get(posting.account_id)
            if found is None:
                raise LedgerIntegrityError(f"unknown ledger account {posting.account_id}")
            if found[0] != organization_id:
                raise LedgerIntegrityError("a posting touches another organization's account")
            currencies.add(found[1])
        if len(currencies) != 1:
            raise LedgerIntegrityError(f"{spec.idempotency_key!r} mixes currencies {currencies}")


def _account_metadata(unique: dict[str, TransferSpec]) -> dict[int, tuple[str, str]]:
    """(organization, currency) of the accounts the postings name, for error messages."""
    ids = {p.account_id for spec in unique.values() for p in spec.postings}
    return {
        pk: (org, currency)
        for pk, org, currency in LedgerAccount.objects.filter(pk__in=ids).values_list(
            "pk", "organization_id", "currency"
        )
    }


def _existing_keys(organization_id: str, keys: list[str]) -> dict[str, int]:
    return dict(
        LedgerTransaction.objects.filter(
            organization_id=organization_id, idempotency_key__in=keys
        ).values_list("idempotency_key", "id")
    )


def _insufficient_funds(organization_id: str, unique: dict[str, TransferSpec]) -> KassaError:
    """The refusal with its details (which account, its balance, the shortfall), worked out
    again from the balances now: the statement that failed reported only its CHECK."""
    account_ids = {p.account_id for spec in unique.values() for p in spec.postings}
    accounts = {
        pk: AccountRow(org, currency, balance, floor, derived)
        for pk, org, currency, balance, floor, derived in LedgerAccount.objects.filter(
            pk__in=account_ids
        ).values_list("pk", "organization_id", "currency", "balance", "min_balance", "derived")
    }
    existing = _existing_keys(organization_id, list(unique))
    try:
        _apply([s for k, s in unique.items() if k not in existing], accounts)
    except InsufficientFunds as exc:
        return exc
    return InsufficientFunds()  # the balances moved since; the refusal stands


def _check_not_reversed(specs: list[TransferSpec]) -> None:
    """A second reversal of a transaction is refused before anything is written (its
    accounts are locked, so no other reversal of it can be on its way)."""
    reversed_ids = [spec.reverses_id for spec in specs if spec.reverses_id is not None]
    if reversed_ids and LedgerTransaction.objects.filter(reverses_id__in=reversed_ids).exists():
        raise AlreadyReversed()


def _replays(specs: dict[str, TransferSpec], existing: dict[str, int]) -> dict[str, Posted]:
    """Keys posted before answer with their first posting, if it had the same postings."""
    if not specs:
        return {}
    entries: dict[int, Counter[Posting]] = {existing[key]: Counter() for key in specs}
    for txn_id, account_id, amount in LedgerEntry.objects.filter(
        transaction_id__in=list(entries)
    ).values_list("transaction_id", "account_id", "amount"):
        entries[txn_id][Posting(account_id, amount)] += 1
    results = {}
    for key, spec in specs.items():
        pk = existing[key]
        if entries[pk] != Counter(spec.postings):
            raise LedgerIdempotencyConflict(
                f"Idempotency key {key!r} was already used for a different posting."
            )
        results[key] = Posted(pk, key, replayed=True)
    return results


def _apply(
    specs: list[TransferSpec], accounts: dict[int, AccountRow]
) -> tuple[list[EntryRow], dict[int, int]]:
    """The entries (each with the balance it leaves, None on a derived account) and the
    changed cached balances of the new postings, applied in order; InsufficientFunds if the
    batch leaves an account below its floor (and lower than it was)."""
    balances = {pk: row.balance for pk, row in accounts.items() if not row.derived}
    entries: list[EntryRow] = []
    for spec in specs:
        for posting in spec.postings:
            account = accounts[posting.account_id]
            balance = None
            if not account.derived:
                balance = balances[posting.account_id] + posting.amount
                balances[posting.account_id] = balance
            entries.append(
                EntryRow(
                    spec.idempotency_key,
                    posting.account_id,
                    posting.amount,
                    account.currency,
                    balance,
                )
            )
    for pk, value in balances.items():
        account = accounts[pk]
        floor = account.min_balance
        if floor is not None and value < floor and value < account.balance:
            raise InsufficientFunds(
                account_id=pk, balance=account.balance, required=account.balance - value
            )
    changed = {pk: value for pk, value in balances.items() if value != accounts[pk].balance}
    return entries, changed
