"""The ledger's SQL, for PostgreSQL and SQLite.

`kassa.ledger.services` decides what to write; this module writes it in as few round trips and
as little client work as each database allows. Every value is a bound parameter.

A posting is two steps: `lock_and_find` locks the accounts (in id order) and finds which
idempotency keys were posted before; after the service has checked everything, `write`
inserts the new transactions, their entries and the new balances.

PostgreSQL: statements are bound server-side and prepared once per connection (their text
depends only on the number of rows; large batches travel as arrays so their text never
changes). Each step runs in a psycopg pipeline, so BEGIN rides with the lock, the key look-up
with it, and the balance update (and the COMMIT of a posting that is its own transaction)
with the insert. The transactions and their entries are inserted by one statement, which
inserts entries only for transactions it inserted.

SQLite: the same statements with rows inlined as VALUES lists, through Django's cursor; the
connection's IMMEDIATE transactions serialize writers, so there is no FOR UPDATE and no race
between the key look-up and the insert.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, NamedTuple

import psycopg
from django.db import connection

# Up to this many rows use scalar parameters; arrays beyond (dumping a Python list costs more
# client time than a few scalars, but keeps one statement text for any size).
_SCALAR_LIMIT = 4


class TxnRow(NamedTuple):
    kind: str
    reference: str
    key: str
    description: str
    metadata: str  # JSON text
    reverses_id: int | None


class AccountRow(NamedTuple):
    organization_id: str
    currency: str
    balance: int
    min_balance: int | None


class WrittenEntry(NamedTuple):
    key: str
    transaction_id: int
    entry_id: int
    account_id: int
    balance_after: int


class EntryRow(NamedTuple):
    key: str  # of the transaction it belongs to
    account_id: int
    amount: int
    currency: str
    balance_after: int


_TXN_COLUMNS = (
    "INSERT INTO ledger_transaction (organization_id, kind, reference, idempotency_key,"
    " description, metadata, reverses_id, created_at)"
)
_TXN_CONFLICT = (
    " ON CONFLICT (organization_id, idempotency_key) DO NOTHING RETURNING id, idempotency_key"
)
_ENTRY_COLUMNS = (
    "INSERT INTO ledger_entry (transaction_id, account_id, amount, currency, balance_after,"
    " created_at)"
)
_ACCOUNT_COLUMNS = "SELECT id, organization_id, currency, balance, min_balance FROM ledger_account"
_KEYS_COLUMNS = "SELECT idempotency_key, id FROM ledger_transaction WHERE organization_id = %s"


def _marks(count: int) -> str:
    return ",".join(["%s"] * count)


def _values(width: int, rows: int) -> str:
    return ",".join(["(" + _marks(width) + ")"] * rows)


def _txn_params(organization_id: str, rows: Sequence[TxnRow], created: Any) -> list[Any]:
    params: list[Any] = []
    for row in sorted(rows, key=lambda r: r.key):
        params.extend(
            (
                organization_id,
                row.kind,
                row.reference,
                row.key,
                row.description,
                row.metadata,
                row.reverses_id,
                created,
            )
        )
    return params


def _balance_params(balances: dict[int, int]) -> list[Any]:
    return [*(v for item in balances.items() for v in item), *balances]


def _scalar_set_balances(rows: int) -> str:
    cases = " ".join(["WHEN %s THEN %s"] * rows)
    return f"UPDATE ledger_account SET balance = CASE id {cases} END WHERE id IN ({_marks(rows)})"


_ARRAY_SET_BALANCES = (
    "UPDATE ledger_account AS a SET balance = v.balance"
    " FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, balance) WHERE a.id = v.id"
)


class PostgresLedgerSQL:
    @contextmanager
    def batch(self) -> Iterator[None]:
        connection.ensure_connection()
        with connection.wrap_database_errors, connection.connection.pipeline():
            yield

    def _execute(self, query: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        cursor: psycopg.Cursor[Any] = psycopg.Cursor(connection.connection)
        with connection.wrap_database_errors:
            cursor.execute(query, params, prepare=True)
        return cursor

    def lock_and_find(
        self, organization_id: str, account_ids: Sequence[int], keys: Sequence[str]
    ) -> tuple[dict[int, AccountRow], dict[str, int]]:
        """Lock the accounts and find the keys posted before, in one round trip. The key
        look-up runs after the lock is granted, so it sees every posting committed by whoever
        held these accounts before us."""
        if len(account_ids) <= 2 * _SCALAR_LIMIT:
            lock = f"{_ACCOUNT_COLUMNS} WHERE id IN ({_marks(len(account_ids))}) ORDER BY id"
            lock_params: list[Any] = list(account_ids)
        else:
            lock = f"{_ACCOUNT_COLUMNS} WHERE id = ANY(%s::bigint[]) ORDER BY id"
            lock_params = [list(account_ids)]
        if len(keys) <= _SCALAR_LIMIT:
            find = f"{_KEYS_COLUMNS} AND idempotency_key IN ({_marks(len(keys))})"
            find_params: list[Any] = [organization_id, *keys]
        else:
            find = f"{_KEYS_COLUMNS} AND idempotency_key = ANY(%s::text[])"
            find_params = [organization_id, list(keys)]
        with (
            self._execute(lock + " FOR UPDATE", lock_params) as lock_cursor,
            self._execute(find, find_params) as find_cursor,
            connection.wrap_database_errors,
        ):
            accounts = {row[0]: AccountRow(*row[1:]) for row in lock_cursor.fetchall()}
            existing = {key: pk for key, pk in find_cursor.fetchall()}
        return accounts, existing

    def write(
        self,
        organization_id: str,
        rows: Sequence[TxnRow],
        entries: Sequence[EntryRow],
        balances: dict[int, int],
        now: Any,
    ) -> list[WrittenEntry]:
        """Insert the transactions and their entries (one statement) and set the balances;
        returns the entries written (a key taken meanwhile is left out with its entries)."""
        if len(rows) <= _SCALAR_LIMIT:
            row = "(%s,%s,%s,%s,%s,%s::jsonb,%s,%s)"
            txns = f"{_TXN_COLUMNS} VALUES {','.join([row] * len(rows))}{_TXN_CONFLICT}"
            params = _txn_params(organization_id, rows, now)
        else:
            txns = (
                f"{_TXN_COLUMNS} SELECT %s, r.kind, r.reference, r.key, r.description,"
                " r.metadata::jsonb, r.reverses_id, %s"
                " FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
                " %s::bigint[]) AS r(kind, reference, key, description, metadata, reverses_id)"
                f" ORDER BY r.key{_TXN_CONFLICT}"
            )
            ordered = sorted(rows, key=lambda r: r.key)
            params = [organization_id, now, *(list(c) for c in zip(*ordered, strict=True))]
        statement = (
            f"WITH t AS ({txns}), e AS ({_ENTRY_COLUMNS}"
            " SELECT t.id, x.account, x.amount, x.currency, x.balance_after, %s"
            " FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::bigint[])"
            " WITH ORDINALITY AS x(key, account, amount, currency, balance_after, ord)"
            " JOIN t ON t.idempotency_key = x.key ORDER BY x.ord"
            " RETURNING id, transaction_id, account_id, balance_after)"
            " SELECT t.idempotency_key, t.id, e.id, e.account_id, e.balance_after"
            " FROM e JOIN t ON t.id = e.transaction_id ORDER BY e.id"
        )
        params += [now, *(list(c) for c in zip(*entries, strict=True))]
        inserted = self._execute(statement, params)
        if balances:
            if len(balances) <= 2 * _SCALAR_LIMIT:
                self._execute(_scalar_set_balances(len(balances)), _balance_params(balances))
            else:
                self._execute(_ARRAY_SET_BALANCES, [list(balances), list(balances.values())])
        with inserted, connection.wrap_database_errors:
            return [WrittenEntry(*row) for row in inserted.fetchall()]


class SqliteLedgerSQL:
    def batch(self) -> nullcontext[None]:
        return nullcontext()

    def _execute(self, query: str, params: Sequence[Any]) -> list[Any]:
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def lock_and_find(
        self, organization_id: str, account_ids: Sequence[int], keys: Sequence[str]
    ) -> tuple[dict[int, AccountRow], dict[str, int]]:
        locked = self._execute(
            f"{_ACCOUNT_COLUMNS} WHERE id IN ({_marks(len(account_ids))}) ORDER BY id",
            list(account_ids),
        )
        found = self._execute(
            f"{_KEYS_COLUMNS} AND idempotency_key IN ({_marks(len(keys))})",
            [organization_id, *keys],
        )
        return {row[0]: AccountRow(*row[1:]) for row in locked}, dict(found)

    def write(
        self,
        organization_id: str,
        rows: Sequence[TxnRow],
        entries: Sequence[EntryRow],
        balances: dict[int, int],
        now: Any,
    ) -> list[WrittenEntry]:
        created = connection.ops.adapt_datetimefield_value(now)
        row = "(%s,%s,%s,%s,%s,%s,%s,%s)"
        inserted = {
            key: pk
            for pk, key in self._execute(
                f"{_TXN_COLUMNS} VALUES {','.join([row] * len(rows))}{_TXN_CONFLICT}",
                _txn_params(organization_id, rows, created),
            )
        }
        kept = [e for e in entries if e.key in inserted]
        written: list[WrittenEntry] = []
        if kept:
            params = [
                v
                for e in kept
                for v in (
                    inserted[e.key],
                    e.account_id,
                    e.amount,
                    e.currency,
                    e.balance_after,
                    created,
                )
            ]
            values = ",".join(["(%s,%s,%s,%s,%s,%s)"] * len(kept))
            returned = self._execute(f"{_ENTRY_COLUMNS} VALUES {values} RETURNING id", params)
            # SQLite returns the rows in insertion order.
            written = [
                WrittenEntry(e.key, inserted[e.key], row[0], e.account_id, e.balance_after)
                for e, row in zip(kept, returned, strict=True)
            ]
        if balances:
            self._execute(_scalar_set_balances(len(balances)), _balance_params(balances))
        return written


LedgerSQL = PostgresLedgerSQL | SqliteLedgerSQL


def dialect() -> LedgerSQL:
    return PostgresLedgerSQL() if connection.vendor == "postgresql" else SqliteLedgerSQL()
