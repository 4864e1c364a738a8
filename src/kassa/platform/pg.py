"""PostgreSQL statements for repositories, whichever way `KASSA_DB_FASTPATH` is set.

Repositories keep their SQL text; this module runs it. With the fast path on (the default) the
statements of a call go through `kassa.platform.pgwire` in one round trip, after the
connection's deferred writes; with it off they go one by one through a plain psycopg cursor
(server-side binding, which `%b` binary parameters need; nothing prepared), as stock Django
would send them. Either way they join the caller's transaction and raise Django's database
errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg.types.numeric import Int8

from kassa.platform import fastdb
from kassa.platform.pgwire import Item, Rows


def is_postgresql() -> bool:
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


def run(items: Sequence[Item]) -> list[Rows | None]:
    """Run `items` (statement, parameters or None for a bare command, whether its rows are
    wanted); the rows of each that wants them."""
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql":
        raise RuntimeError("kassa.platform.pg runs PostgreSQL statements only")
    if fastdb.active():
        return conn.run_batch(list(items))  # type: ignore[attr-defined]  # (our backend)
    conn.ensure_connection()
    found: list[Rows | None] = []
    with conn.wrap_database_errors, psycopg.Cursor(conn.connection) as cursor:
        for sql, params, want in items:
            cursor.execute(sql, params, prepare=False)
            found.append([tuple(row) for row in cursor.fetchall()] if want else None)
    return found


def int8(value: int) -> Any:
    """An integer parameter typed int8 whatever its size: psycopg would pick int2, int4 or
    int8 by the value, and a statement prepared for one type is prepared again for another."""
    return Int8(value)


def notify(channel: str, payload: str) -> None:
    """NOTIFY `channel` (PostgreSQL delivers it when the current transaction commits, at once
    outside one, never on a rollback); nothing on other databases. On the fast path it is a
    deferred write, sent with the transaction's next statement or its COMMIT."""
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql":
        return
    if fastdb.active():
        fastdb.execute("SELECT pg_notify(%s, %s)", [channel, payload], defer=True)
        return
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [channel, payload])
