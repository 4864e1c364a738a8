"""The ledger's SQL, for PostgreSQL and SQLite.

`kassa.ledger.services` decides what to write; this module writes it in as few round trips and
as little client work as each database allows. Every value is a bound parameter.

PostgreSQL: statements are bound server-side and prepared once per connection (their text
depends only on the number of rows, and large batches travel as arrays so their text never
changes). A posting runs in a psycopg pipeline, so BEGIN rides with the first statement
and the two writes share one round trip.

SQLite: the same statements with rows inlined as VALUES lists, through Django's cursor; the
connection's IMMEDIATE transactions serialize writers, so there is no FOR UPDATE.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, NamedTuple

import psycopg
from django.db import connection

# Batches up to this many transactions use scalar parameters; arrays beyond (dumping a Python
# list costs more client time than a few scalars, but keeps one statement text for any size).
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


class EntryRow(NamedTuple):
    transaction_id: int
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

_ARRAY_INSERT_TRANSACTIONS = (
    f"{_TXN_COLUMNS} SELECT %s, t.kind, t.reference, t.key, t.description, t.metadata::jsonb,"
    " t.reverses_id, %s"
    " FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[])"
    " AS t(kind, reference, key, description, metadata, reverses_id)"
    f" ORDER BY t.key{_TXN_CONFLICT}"
)
_ARRAY_LOCK_ACCOUNTS = f"{_ACCOUNT_COLUMNS} WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE"
_ARRAY_SET_BALANCES = (
    "UPDATE ledger_account AS a SET balance = v.balance"
    " FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, balance) WHERE a.id = v.id"
)
_ARRAY_INSERT_ENTRIES = (
    f"{_ENTRY_COLUMNS} SELECT e.txn, e.account, e.amount, e.currency, e.balance_after, %s"
    " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::bigint[])"
    " AS e(txn, account, amount, currency, balance_after)"
)


def _values(width: int, rows: int) -> str:
    return ",".join(["(" + ",".join(["%s"] * width) + ")"] * rows)


def _scalar_insert_transactions(rows: int, metadata_cast: str) -> str:
    row = f"(%s,%s,%s,%s,%s,%s{metadata_cast},%s,%s)"
    return f"{_TXN_COLUMNS} VALUES {','.join([row] * rows)}{_TXN_CONFLICT}"


def _scalar_lock_accounts(rows: int, lock: str) -> str:
    return f"{_ACCOUNT_COLUMNS} WHERE id IN ({','.join(['%s'] * rows)}) ORDER BY id{lock}"


def _scalar_set_balances(rows: int) -> str:
    cases = " ".join(["WHEN %s THEN %s"] * rows)
    in_list = ",".join(["%s"] * rows)
    return f"UPDATE ledger_account SET balance = CASE id {cases} END WHERE id IN ({in_list})"


def _scalar_insert_entries(rows: int) -> str:
    return f"{_ENTRY_COLUMNS} VALUES {_values(6, rows)}"


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


def _entry_params(entries: Sequence[EntryRow], created: Any) -> list[Any]:
    return [v for entry in entries for v in (*entry, created)]


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

    def insert_and_lock(
        self, organization_id: str, rows: Sequence[TxnRow], now: Any, account_ids: Sequence[int]
    ) -> tuple[dict[str, int], dict[int, AccountRow]]:
        """Insert the transactions and lock their accounts in one round trip: both statements
        are sent before either result is read (the lock does not depend on the insert)."""
        if len(rows) <= _SCALAR_LIMIT:
            txn_query = _scalar_insert_transactions(len(rows), "::jsonb")
            txn_params = _txn_params(organization_id, rows, now)
        else:
            ordered = sorted(rows, key=lambda r: r.key)
            txn_query = _ARRAY_INSERT_TRANSACTIONS
            txn_params = [organization_id, now, *(list(c) for c in zip(*ordered, strict=True))]
        lock_params: list[Any]
        if len(account_ids) <= 2 * _SCALAR_LIMIT:
            lock_query = _scalar_lock_accounts(len(account_ids), " FOR UPDATE")
            lock_params = list(account_ids)
        else:
            lock_query, lock_params = _ARRAY_LOCK_ACCOUNTS, [list(account_ids)]
        with (
            self._execute(txn_query, txn_params) as txn_cursor,
            self._execute(lock_query, lock_params) as lock_cursor,
            connection.wrap_database_errors,
        ):
            inserted = {key: pk for pk, key in txn_cursor.fetchall()}
            accounts = {row[0]: AccountRow(*row[1:]) for row in lock_cursor.fetchall()}
        return inserted, accounts

    def write(self, balances: dict[int, int], entries: Sequence[EntryRow], now: Any) -> None:
        if balances:
            if len(balances) <= 2 * _SCALAR_LIMIT:
                self._execute(_scalar_set_balances(len(balances)), _balance_params(balances))
            else:
                ids, values = list(balances), list(balances.values())
                self._execute(_ARRAY_SET_BALANCES, [ids, values])
        if len(entries) <= 2 * _SCALAR_LIMIT:
            self._execute(_scalar_insert_entries(len(entries)), _entry_params(entries, now))
        else:
            columns = [list(c) for c in zip(*entries, strict=True)]
            self._execute(_ARRAY_INSERT_ENTRIES, [now, *columns])


class SqliteLedgerSQL:
    def batch(self) -> nullcontext[None]:
        return nullcontext()

    def _execute(self, query: str, params: Sequence[Any]) -> list[Any]:
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def insert_and_lock(
        self, organization_id: str, rows: Sequence[TxnRow], now: Any, account_ids: Sequence[int]
    ) -> tuple[dict[str, int], dict[int, AccountRow]]:
        created = connection.ops.adapt_datetimefield_value(now)
        result = self._execute(
            _scalar_insert_transactions(len(rows), ""),
            _txn_params(organization_id, rows, created),
        )
        locked = self._execute(_scalar_lock_accounts(len(account_ids), ""), list(account_ids))
        return {key: pk for pk, key in result}, {row[0]: AccountRow(*row[1:]) for row in locked}

    def write(self, balances: dict[int, int], entries: Sequence[EntryRow], now: Any) -> None:
        created = connection.ops.adapt_datetimefield_value(now)
        if balances:
            self._execute(_scalar_set_balances(len(balances)), _balance_params(balances))
        self._execute(_scalar_insert_entries(len(entries)), _entry_params(entries, created))


LedgerSQL = PostgresLedgerSQL | SqliteLedgerSQL


def dialect() -> LedgerSQL:
    return PostgresLedgerSQL() if connection.vendor == "postgresql" else SqliteLedgerSQL()
