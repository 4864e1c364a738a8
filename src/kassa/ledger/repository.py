"""The ledger's repository: its SQL text, and which of two ways a database posts.

`kassa.ledger.services` decides what to write; this module writes it in as few round trips and
as little client work as each database allows. Every value is a bound parameter. Services ask
`posts_in_one_statement()` (a capability, as Django's `connection.features` are) and never
which database it is.

In one statement (PostgreSQL, with the fast path on or off): a whole batch is one statement
(`_POST`), bound server-side with its rows as arrays, so its text never changes: one round
trip, and the accounts' row locks are held for the statement and the commit only. A single
transaction (the common case: a payment, a charge) goes through `_POST_ONE`, the same statement
with scalar parameters. The statements run through `kassa.platform.pg`: on the fast path they
are pipelined through pgwire and prepared once per connection, on a generic plan (see
`post_in_one_statement`); with `KASSA_DB_FASTPATH=0` they go one by one through a plain psycopg
cursor (server-side binding, which the `%b` parameters need; nothing prepared, so the
`SET plan_cache_mode` around a batch changes nothing there). Either way the database refuses a
broken floor or a second reversal by a constraint (`violated_constraint` names it).

In steps (SQLite): two steps through Django's cursor, with rows inlined as VALUES lists:
`lock_and_find` reads the accounts and finds which idempotency keys were posted before; after
the service has checked everything, `write` inserts the new transactions, their entries and
the new balances. The connection's IMMEDIATE transactions serialize writers, so there is no
FOR UPDATE and no race between the key look-up and the insert.

Verifying (`kassa.ledger.verify`, any database): the statements that read the ledger in chunks
of ids (`account_sums`, `entries_in_another_currency`, `transaction_sums`,
`transactions_without_organization`, `entries_with_broken_references`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from django.db import IntegrityError, connection

from kassa.platform import pg
from kassa.platform.pg import Item


def posts_in_one_statement() -> bool:
    """Whether the database locks, checks and writes a posting in one statement, refusing a
    broken floor or a second reversal by its constraints (`post_in_one_statement`); otherwise
    the service reads, decides every refusal, then writes (`lock_and_find`, `write`), one
    writer at a time."""
    return pg.is_postgresql()


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint a refused statement violated, when the database says."""
    return getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)


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
    derived: bool  # the balance is the sum of the entries, not cached: never locked or moved


class WrittenEntry(NamedTuple):
    key: str
    transaction_id: int
    entry_id: int
    account_id: int
    balance_after: int | None  # None on an account whose balance is derived


class NewEntry(NamedTuple):
    key: str  # of the transaction it belongs to
    account_id: int
    amount: int


class EntryRow(NamedTuple):
    key: str  # of the transaction it belongs to
    account_id: int
    amount: int
    currency: str
    balance_after: int | None


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
_ACCOUNT_COLUMNS = (
    "SELECT id, organization_id, currency, balance, min_balance, derived FROM ledger_account"
)
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
_GENERIC_PLAN = "SET plan_cache_mode = force_generic_plan"
_DEFAULT_PLAN = "RESET plan_cache_mode"

# The part both posting statements share: from `x` (the inserted transactions' entries), the
# balance moves of the locked accounts (`d`, `u`) and the entries with the balance each one left
# (`w`).
_MOVE_AND_WRITE = (
    ", d AS ("
    "SELECT x.account, sum(x.amount) AS delta FROM x GROUP BY x.account"
    "), u AS ("
    "UPDATE ledger_account AS a SET balance = a.balance + d.delta"
    " FROM d JOIN locked AS l ON l.id = d.account"
    " WHERE a.id = d.account AND d.delta <> 0 RETURNING a.id"
    "), w AS ("
    f"{_ENTRY_COLUMNS} SELECT x.txn_id, x.account, x.amount, a.currency,"
    " l.balance + sum(x.amount) OVER (PARTITION BY x.account ORDER BY x.ord), %(now)s"
    " FROM x JOIN acc AS a ON a.id = x.account LEFT JOIN locked AS l ON l.id = x.account"
    " ORDER BY x.ord"
    " RETURNING id, transaction_id, account_id, balance_after"
    ")"
)

# One statement posts a whole batch on PostgreSQL. Lists of strings travel in the binary
# format (%b), which psycopg dumps several times faster than text arrays (no quoting of each
# element). `acc` reads the accounts (no lock: what is checked of them never changes);
# `locked` takes the row locks of those with a cached balance, in id order (every part that
# moves a cached balance reads through it, so no row is locked out of order); accounts whose
# balance is derived (house accounts) are neither locked nor updated. `ok` checks what only a
# programming error can break (every account exists, belongs to the organization, each
# transaction stays in one currency) and, as it counts the locked rows, makes the locks come
# before the INSERT (a racing duplicate key then waits on a row lock, never the other way
# round); when it fails nothing is inserted and the service finds out why. The transactions are
# inserted in key order with ON CONFLICT DO NOTHING, and only the inserted ones get entries and
# move balances; an entry on a cached account records the balance it left (the locked balance
# plus the running sum of the batch's entries on that account), on a derived one NULL. A floor
# the batch would break fails the statement through the ledger_account_min_balance CHECK, so
# nothing is written. The locks are held for this statement and the commit only: no round trip
# to the client and no Python run while they are held.
_POST = (
    "WITH acc AS ("
    "SELECT id, organization_id, currency, derived FROM ledger_account"
    " WHERE id = ANY(%(accounts)s::bigint[])"
    "), locked AS ("
    "SELECT id, balance FROM ledger_account"
    " WHERE id = ANY(%(accounts)s::bigint[]) AND NOT derived ORDER BY id FOR UPDATE"
    "), e AS ("
    "SELECT * FROM unnest(%(entry_keys)b::text[], %(entry_accounts)s::bigint[],"
    " %(entry_amounts)s::bigint[]) WITH ORDINALITY AS e(key, account, amount, ord)"
    "), ok AS ("
    "SELECT (SELECT count(*) FROM acc) = cardinality(%(accounts)s::bigint[])"
    " AND (SELECT count(*) FROM locked) = (SELECT count(*) FROM acc WHERE NOT derived)"
    " AND NOT EXISTS (SELECT 1 FROM acc WHERE organization_id <> %(org)s)"
    " AND NOT EXISTS (SELECT 1 FROM e JOIN acc AS a ON a.id = e.account"
    " GROUP BY e.key HAVING count(DISTINCT a.currency) > 1) AS good"
    "), t AS ("
    f"{_TXN_COLUMNS} SELECT %(org)s, r.kind, r.reference, r.key, r.description,"
    " r.metadata::jsonb, r.reverses_id, %(now)s"
    " FROM unnest(%(kinds)b::text[], %(references)b::text[], %(keys)b::text[],"
    " %(descriptions)b::text[], %(metadata)b::text[], %(reverses)s::bigint[])"
    " AS r(kind, reference, key, description, metadata, reverses_id)"
    f" WHERE (SELECT good FROM ok) ORDER BY r.key{_TXN_CONFLICT}"
    "), x AS ("
    "SELECT t.id AS txn_id, e.account, e.amount, e.ord FROM e"
    " JOIN t ON t.idempotency_key = e.key"
    f"){_MOVE_AND_WRITE}"
    " SELECT t.idempotency_key, t.id, w.id, w.account_id, w.balance_after"
    " FROM w JOIN t ON t.id = w.transaction_id ORDER BY w.id"
)


def _bigint_array(values: Sequence[int | None]) -> str:
    """A bigint[] literal. Sent as text (psycopg's "unknown") and cast in the statement, the
    parameter's type never changes: psycopg would type a list of ints by its largest value
    (int2[], int4[] or int8[]) and prepare the statement again for each combination, and it
    dumps lists element by element in Python."""
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


def _post_one(legs: int) -> str:
    """`_POST` for one transaction of `legs` entries, with scalar parameters (`a0`, `m0`, ...)
    instead of arrays: PostgreSQL then finds its generic plan as cheap as a custom one and
    keeps it (no planning per call), and psycopg binds scalars faster than lists."""
    marks = range(legs)
    ids = ", ".join(f"%(a{i})s" for i in marks)
    values = ", ".join(f"(%(a{i})s, %(m{i})s, {i})" for i in marks)
    return (
        "WITH acc AS ("
        "SELECT id, organization_id, currency, derived FROM ledger_account"
        f" WHERE id IN ({ids})"
        "), locked AS ("
        "SELECT id, balance FROM ledger_account"
        f" WHERE id IN ({ids}) AND NOT derived ORDER BY id FOR UPDATE"
        f"), e(account, amount, ord) AS (VALUES {values}"
        "), ok AS ("
        "SELECT (SELECT count(*) FROM acc) = %(distinct)s"
        " AND (SELECT count(*) FROM locked) = (SELECT count(*) FROM acc WHERE NOT derived)"
        " AND NOT EXISTS (SELECT 1 FROM acc WHERE organization_id <> %(org)s)"
        " AND (SELECT count(DISTINCT currency) FROM acc) = 1 AS good"
        "), t AS ("
        f"{_TXN_COLUMNS} SELECT %(org)s, %(kind)s, %(reference)s, %(key)s, %(description)s,"
        " %(metadata)s::jsonb, %(reverses)s, %(now)s"
        f" WHERE (SELECT good FROM ok){_TXN_CONFLICT}"
        "), x AS ("
        "SELECT t.id AS txn_id, e.account, e.amount, e.ord FROM e CROSS JOIN t"
        f"){_MOVE_AND_WRITE}"
        " SELECT %(key)s, w.transaction_id, w.id, w.account_id, w.balance_after"
        " FROM w ORDER BY w.id"
    )


# Statements for one transaction, by its number of entries (most have two or three).
_POST_ONE = {legs: _post_one(legs) for legs in range(2, 7)}


def post_in_one_statement(
    organization_id: str,
    rows: Sequence[TxnRow],
    entries: Sequence[NewEntry],
    now: Any,
    *,
    savepoint: bool,
) -> list[WrittenEntry]:
    """Post a batch in one statement (after a SAVEPOINT in the same round trip when the
    caller's transaction must survive a refusal); returns the entries written. Raises
    IntegrityError when a constraint refuses the batch; the caller then rolls back to the
    savepoint (`rollback_to_savepoint`)."""
    savepoints: list[Item] = [(f"SAVEPOINT {_SAVEPOINT}", None, False)] if savepoint else []
    if len(rows) == 1 and len(entries) in _POST_ONE:
        statement = (
            _POST_ONE[len(entries)],
            _one_params(organization_id, rows[0], entries, now),
            True,
        )
        written = pg.run([*savepoints, statement])[-1]
    else:
        # PostgreSQL re-plans a prepared statement for every execution while a custom plan
        # looks cheaper than the generic one, and with array parameters it always does:
        # planning this statement cost more than running it (0.47 ms against 0.37 ms).
        # The generic plan is the same plan; it is forced for this statement only. The
        # SET is undone by RESET, or with everything else when the statement fails (the
        # statement is then behind the savepoint, or in a transaction that is rolled back).
        # (With the fast path off nothing is prepared, and the setting changes nothing.)
        batch = _batch_params(organization_id, rows, entries, now)
        results = pg.run(
            [
                *savepoints,
                (_GENERIC_PLAN, None, False),
                (_POST, batch, True),
                (_DEFAULT_PLAN, None, False),
            ]
        )
        written = results[-2]
    assert written is not None
    return [WrittenEntry(*row) for row in written]


def rollback_to_savepoint() -> None:
    """Undo a refused `post_in_one_statement(savepoint=True)`: the caller's transaction is
    usable again."""
    pg.run([(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}", None, False)])


def _batch_params(
    organization_id: str, rows: Sequence[TxnRow], entries: Sequence[NewEntry], now: Any
) -> dict[str, Any]:
    return {
        "accounts": _bigint_array(sorted({e.account_id for e in entries})),
        "org": organization_id,
        "now": now,
        "kinds": [r.kind for r in rows],
        "references": [r.reference for r in rows],
        "keys": [r.key for r in rows],
        "descriptions": [r.description for r in rows],
        "metadata": [r.metadata for r in rows],
        "reverses": _bigint_array([r.reverses_id for r in rows]),
        "entry_keys": [e.key for e in entries],
        "entry_accounts": _bigint_array([e.account_id for e in entries]),
        "entry_amounts": _bigint_array([e.amount for e in entries]),
    }


def _one_params(
    organization_id: str, row: TxnRow, entries: Sequence[NewEntry], now: Any
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "org": organization_id,
        "now": now,
        "kind": row.kind,
        "reference": row.reference,
        "key": row.key,
        "description": row.description,
        "metadata": row.metadata,
        "reverses": None if row.reverses_id is None else pg.int8(row.reverses_id),
        "distinct": pg.int8(len({e.account_id for e in entries})),
    }
    for i, entry in enumerate(entries):
        # int8 always: psycopg would otherwise pick int2, int4 or int8 by the value, and each
        # combination would be prepared as a statement of its own.
        params[f"a{i}"] = pg.int8(entry.account_id)
        params[f"m{i}"] = pg.int8(entry.amount)
    return params


def _execute(query: str, params: Sequence[Any]) -> list[Any]:
    """A statement through Django's cursor; its rows, if it returns any."""
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def lock_and_find(
    organization_id: str, account_ids: Sequence[int], keys: Sequence[str]
) -> tuple[dict[int, AccountRow], dict[str, int]]:
    """In steps: the accounts (by id) and the ids of the keys posted before (by key)."""
    locked = _execute(
        f"{_ACCOUNT_COLUMNS} WHERE id IN ({_marks(len(account_ids))}) ORDER BY id",
        list(account_ids),
    )
    found = _execute(
        f"{_KEYS_COLUMNS} AND idempotency_key IN ({_marks(len(keys))})",
        [organization_id, *keys],
    )
    return {row[0]: AccountRow(*row[1:]) for row in locked}, dict(found)


def write(
    organization_id: str,
    rows: Sequence[TxnRow],
    entries: Sequence[EntryRow],
    balances: dict[int, int],
    now: Any,
) -> list[WrittenEntry]:
    """In steps: insert the transactions (a key posted meanwhile is skipped), the entries of
    those inserted and the new cached balances; the entries written."""
    created = connection.ops.adapt_datetimefield_value(now)
    row = "(%s,%s,%s,%s,%s,%s,%s,%s)"
    inserted = {
        key: pk
        for pk, key in _execute(
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
        returned = _execute(f"{_ENTRY_COLUMNS} VALUES {values} RETURNING id", params)
        # SQLite returns the rows in insertion order.
        written = [
            WrittenEntry(e.key, inserted[e.key], row[0], e.account_id, e.balance_after)
            for e, row in zip(kept, returned, strict=True)
        ]
    if balances:
        _execute(_scalar_set_balances(len(balances)), _balance_params(balances))
    return written


# -- verifying (kassa.ledger.verify): portable SQL over one chunk of ids, (start, end] ---------


def account_sums(start: int, end: int) -> list[tuple[int, int, int, int | None, bool]]:
    """(id, cached balance, sum of the entries, floor, derived) of the accounts in the chunk."""
    return [
        (pk, cached, computed, floor, bool(derived))
        for pk, cached, computed, floor, derived in _execute(
            "SELECT a.id, a.balance, COALESCE(SUM(e.amount), 0), a.min_balance, a.derived"
            " FROM ledger_account a LEFT JOIN ledger_entry e ON e.account_id = a.id"
            " WHERE a.id > %s AND a.id <= %s"
            " GROUP BY a.id, a.balance, a.min_balance, a.derived",
            [start, end],
        )
    ]


def entries_in_another_currency(start: int, end: int) -> list[tuple[int, int, str, str]]:
    """(entry id, account id, the entry's currency, the account's) of the entries on the
    chunk's accounts whose currency is not their account's."""
    return _execute(
        "SELECT e.id, e.account_id, e.currency, a.currency FROM ledger_entry e"
        " JOIN ledger_account a ON a.id = e.account_id"
        " WHERE e.account_id > %s AND e.account_id <= %s AND e.currency <> a.currency",
        [start, end],
    )


def transaction_sums(start: int, end: int) -> list[tuple[int, str | None, int, int]]:
    """(transaction id, currency, sum, number of entries) per transaction of the chunk and
    currency of its entries (a transaction without entries: one row, currency None)."""
    return _execute(
        "SELECT t.id, e.currency, COALESCE(SUM(e.amount), 0), COUNT(e.id)"
        " FROM ledger_transaction t LEFT JOIN ledger_entry e ON e.transaction_id = t.id"
        " WHERE t.id > %s AND t.id <= %s GROUP BY t.id, e.currency",
        [start, end],
    )


def transactions_without_organization(start: int, end: int) -> list[tuple[int, str]]:
    """(transaction id, organization id) of the chunk's transactions whose organization is
    missing (the table has no foreign key to it)."""
    return _execute(
        "SELECT t.id, t.organization_id FROM ledger_transaction t"
        " LEFT JOIN core_organization o ON o.id = t.organization_id"
        " WHERE t.id > %s AND t.id <= %s AND o.id IS NULL",
        [start, end],
    )


def entries_with_broken_references(
    start: int, end: int
) -> list[tuple[int, int, int, str | None, str | None]]:
    """(entry id, transaction id, account id, the transaction's organization, the account's)
    of the chunk's entries whose transaction or account is missing (None) or whose
    transaction and account belong to different organizations (no foreign keys hold them)."""
    return _execute(
        "SELECT e.id, e.transaction_id, e.account_id, t.organization_id,"
        " a.organization_id FROM ledger_entry e"
        " LEFT JOIN ledger_transaction t ON t.id = e.transaction_id"
        " LEFT JOIN ledger_account a ON a.id = e.account_id"
        " WHERE e.id > %s AND e.id <= %s"
        " AND (t.id IS NULL OR a.id IS NULL OR t.organization_id <> a.organization_id)",
        [start, end],
    )
