"""The ledger's SQL, for PostgreSQL and SQLite.

`kassa.ledger.services` decides what to write; this module writes it in as few round trips and
as little client work as each database allows. Every value is a bound parameter.

PostgreSQL: a whole batch is one prepared statement (`_POST`), bound server-side with its rows
as arrays, so its text never changes: one round trip, and the accounts' row locks are held for
the statement and the commit only.

SQLite: two steps through Django's cursor, with rows inlined as VALUES lists:
`lock_and_find` reads the accounts and finds which idempotency keys were posted before; after
the service has checked everything, `write` inserts the new transactions, their entries and
the new balances. The connection's IMMEDIATE transactions serialize writers, so there is no
FOR UPDATE and no race between the key look-up and the insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any, NamedTuple

import psycopg
from django.db import connection


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


class NewEntry(NamedTuple):
    key: str  # of the transaction it belongs to
    account_id: int
    amount: int


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


_SAVEPOINT = "kassa_ledger"

# One statement posts a whole batch on PostgreSQL. `locked` takes the row locks in id order
# (every part that touches ledger_account reads through it, so no row is locked out of order).
# `ok` checks what only a programming error can break (every account exists, belongs to the
# organization, each transaction stays in one currency); when it fails nothing is inserted and
# the service finds out why. The transactions are inserted in key order with ON CONFLICT DO
# NOTHING, and only the inserted ones get entries and move balances; each entry records the
# balance it left (the locked balance plus the running sum of the batch's entries on that
# account). A floor the batch would break fails the statement through the
# ledger_account_min_balance CHECK, so nothing is written. The locks are held for this statement
# and the commit only: no round trip to the client and no Python run while they are held.
_POST = (
    "WITH locked AS ("
    "SELECT id, balance, organization_id, currency FROM ledger_account"
    " WHERE id = ANY(%(accounts)s::bigint[]) ORDER BY id FOR UPDATE"
    "), e AS ("
    "SELECT * FROM unnest(%(entry_keys)s::text[], %(entry_accounts)s::bigint[],"
    " %(entry_amounts)s::bigint[]) WITH ORDINALITY AS e(key, account, amount, ord)"
    "), ok AS ("
    "SELECT (SELECT count(*) FROM locked) = cardinality(%(accounts)s::bigint[])"
    " AND NOT EXISTS (SELECT 1 FROM locked WHERE organization_id <> %(org)s)"
    " AND NOT EXISTS (SELECT 1 FROM e JOIN locked AS l ON l.id = e.account"
    " GROUP BY e.key HAVING count(DISTINCT l.currency) > 1) AS good"
    "), t AS ("
    f"{_TXN_COLUMNS} SELECT %(org)s, r.kind, r.reference, r.key, r.description,"
    " r.metadata::jsonb, r.reverses_id, %(now)s"
    " FROM unnest(%(kinds)s::text[], %(references)s::text[], %(keys)s::text[],"
    " %(descriptions)s::text[], %(metadata)s::text[], %(reverses)s::bigint[])"
    " AS r(kind, reference, key, description, metadata, reverses_id)"
    f" WHERE (SELECT good FROM ok) ORDER BY r.key{_TXN_CONFLICT}"
    "), x AS ("
    "SELECT t.id AS txn_id, e.account, e.amount, e.ord FROM e"
    " JOIN t ON t.idempotency_key = e.key"
    "), d AS ("
    "SELECT x.account, sum(x.amount) AS delta FROM x GROUP BY x.account"
    "), u AS ("
    "UPDATE ledger_account AS a SET balance = a.balance + d.delta"
    " FROM d JOIN locked AS l ON l.id = d.account"
    " WHERE a.id = d.account AND d.delta <> 0 RETURNING a.id"
    "), w AS ("
    f"{_ENTRY_COLUMNS} SELECT x.txn_id, x.account, x.amount, l.currency,"
    " l.balance + sum(x.amount) OVER (PARTITION BY x.account ORDER BY x.ord), %(now)s"
    " FROM x JOIN locked AS l ON l.id = x.account ORDER BY x.ord"
    " RETURNING id, transaction_id, account_id, balance_after"
    ")"
    " SELECT t.idempotency_key, t.id, w.id, w.account_id, w.balance_after"
    " FROM w JOIN t ON t.id = w.transaction_id ORDER BY w.id"
)


class PostgresLedgerSQL:
    def post(
        self,
        organization_id: str,
        rows: Sequence[TxnRow],
        entries: Sequence[NewEntry],
        now: Any,
        *,
        savepoint: bool,
    ) -> list[WrittenEntry]:
        """Post a batch in one statement (after a SAVEPOINT in the same round trip when the
        caller's transaction must survive a refusal); returns the entries written."""
        params = {
            "accounts": sorted({e.account_id for e in entries}),
            "org": organization_id,
            "now": now,
            "kinds": [r.kind for r in rows],
            "references": [r.reference for r in rows],
            "keys": [r.key for r in rows],
            "descriptions": [r.description for r in rows],
            "metadata": [r.metadata for r in rows],
            "reverses": [r.reverses_id for r in rows],
            "entry_keys": [e.key for e in entries],
            "entry_accounts": [e.account_id for e in entries],
            "entry_amounts": [e.amount for e in entries],
        }
        connection.ensure_connection()
        conn = connection.connection
        with connection.wrap_database_errors, conn.pipeline():
            if savepoint:
                conn.execute(f"SAVEPOINT {_SAVEPOINT}")
            cursor: psycopg.Cursor[Any] = psycopg.Cursor(conn)
            with cursor:
                cursor.execute(_POST, params, prepare=True)
                return [WrittenEntry(*row) for row in cursor.fetchall()]

    def rollback_savepoint(self) -> None:
        with connection.wrap_database_errors:
            connection.connection.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")


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
