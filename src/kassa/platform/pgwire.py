"""The hot paths' statements sent through libpq directly (PostgreSQL).

psycopg's cursors cost about 70 µs of CPU per statement on the 2-core machine and its pipelines
about 150 µs for three statements; the same statements through its libpq wrapper (`pgconn`)
cost about 40 µs, one or three alike: the price is the system calls of a round trip, which a
batch pays once. `run` sends a batch of statements in one round trip and returns each one's
rows: the deferred writes (`kassa.platform.fastdb`), BEGIN, savepoints, the statement whose answer
is wanted, COMMIT. Parameters are adapted and rows loaded by psycopg's own Transformer, so
values come and go exactly as through a cursor.

Statements with parameters are prepared once per connection (on first use, in the same round
trip) under names of their own. psycopg's own prepared statements are switched off in the
settings: psycopg answers a ROLLBACK by deallocating every prepared statement on the connection,
ours included, and Kassa prepares only here. Commands without parameters (BEGIN, SAVEPOINT,
COMMIT, SET) are sent unprepared.

A batch is one pipeline (libpq's pipeline mode, one Sync). The first failing statement raises
its psycopg error (which Django's `wrap_database_errors` turns into its own); PostgreSQL skips
the rest of the batch, and the transaction it belongs to is then failed, as it would be after
that statement alone.
"""

from __future__ import annotations

import contextlib
import select
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer

# (statement with %s or %(name)s placeholders, its parameters or None for a command sent as
# is, whether its rows are wanted)
Item = tuple[str, Sequence[Any] | dict[str, Any] | None, bool]
Rows = list[tuple[Any, ...]]

_ERROR = (pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.BAD_RESPONSE, pq.ExecStatus.NONFATAL_ERROR)
_ABORTED = pq.ExecStatus.PIPELINE_ABORTED


class _Prepared:
    """The statements prepared on one connection, and the Transformer its batches reuse (as
    a psycopg cursor reuses its own)."""

    __slots__ = ("count", "names", "tx")

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        # (query, parameter types) -> statement name: a statement is prepared with the types
        # of its parameters, so other types get a statement of their own (as in psycopg)
        self.names: dict[tuple[bytes, tuple[int, ...]], bytes] = {}
        self.count = 0
        self.tx = Transformer(conn)


def _prepared(conn: psycopg.Connection[Any]) -> _Prepared:
    found: _Prepared | None = getattr(conn, "_kassa_prepared", None)
    if found is None:
        found = _Prepared(conn)
        conn._kassa_prepared = found  # type: ignore[attr-defined]
    return found


def run(conn: psycopg.Connection[Any], items: Sequence[Item]) -> list[Rows | None]:
    """Send `items` in one round trip; the rows of each item that wants them (else None)."""
    with conn.lock:
        return _run(conn, items)


def _run(conn: psycopg.Connection[Any], items: Sequence[Item]) -> list[Rows | None]:
    prepared = _prepared(conn)
    tx = prepared.tx
    if len(items) == 1:
        single = _run_single(conn, prepared, items[0])
        if single is not _UNPREPARED:
            return [single]
    pgconn = conn.pgconn
    # Each pipelined command: an item's execution (its index) or a Parse (query, name).
    commands: list[int | tuple[tuple[bytes, tuple[int, ...]], bytes]] = []
    outcome: list[Rows | None] = [None] * len(items)
    error: psycopg.Error | None = None
    pgconn.enter_pipeline_mode()
    try:
        for index, (sql, params, _) in enumerate(items):
            if params is None:
                pgconn.send_query_params(sql.encode(), None)
                commands.append(index)
                continue
            query = PostgresQuery(tx)
            query.convert(sql, params)
            key = (query.query, tuple(query.types))
            name = prepared.names.get(key)
            if name is None:
                prepared.count += 1
                name = f"_kassa_{prepared.count}".encode()
                pgconn.send_prepare(name, query.query, param_types=query.types)
                commands.append((key, name))
            pgconn.send_query_prepared(name, query.params, param_formats=query.formats)
            commands.append(index)
        pgconn.pipeline_sync()
        _flush(pgconn)
        for command in commands:
            result = _command_result(pgconn)
            if result is None or result.status == _ABORTED:
                continue
            if result.status in _ERROR:
                error = error or errors.error_from_result(result, encoding=conn.info.encoding)
            elif isinstance(command, tuple):
                prepared.names[command[0]] = command[1]
            elif items[command][2]:
                tx.set_pgresult(result)
                outcome[command] = tx.load_rows(0, result.ntuples, tuple)
        _until_sync(pgconn)
    except BaseException:
        # Leave the connection out of pipeline mode if it can be (an answer was lost: it is
        # broken, and Django discards it).
        with contextlib.suppress(psycopg.Error):
            _until_sync(pgconn)
            pgconn.exit_pipeline_mode()
        raise
    pgconn.exit_pipeline_mode()
    if error is not None:
        raise error
    return outcome


_UNPREPARED = object()


def _run_single(conn: psycopg.Connection[Any], prepared: _Prepared, item: Item) -> Any:
    """One statement already prepared, without pipeline mode: the cheapest round trip."""
    sql, params, want = item
    if params is None:
        return _UNPREPARED
    tx = prepared.tx
    query = PostgresQuery(tx)
    query.convert(sql, params)
    name = prepared.names.get((query.query, tuple(query.types)))
    if name is None:
        return _UNPREPARED
    pgconn = conn.pgconn
    pgconn.send_query_prepared(name, query.params, param_formats=query.formats)
    _flush(pgconn)
    result = _command_result(pgconn)
    assert result is not None
    if result.status in _ERROR:
        raise errors.error_from_result(result, encoding=conn.info.encoding)
    if not want:
        return None
    tx.set_pgresult(result)
    return tx.load_rows(0, result.ntuples, tuple)


def _wait(pgconn: pq.abc.PGconn, *, write: bool = False) -> None:
    # select() releases the GIL while it waits.
    if write:
        select.select([pgconn.socket], [pgconn.socket], [])
    else:
        select.select([pgconn.socket], [], [])


def _flush(pgconn: pq.abc.PGconn) -> None:
    while pgconn.flush():
        _wait(pgconn, write=True)
        pgconn.consume_input()


def _next(pgconn: pq.abc.PGconn) -> pq.abc.PGresult | None:
    while pgconn.is_busy():
        _wait(pgconn)
        pgconn.consume_input()
    result = pgconn.get_result()
    if result is None and pgconn.status == pq.ConnStatus.BAD:
        # A lost connection answers no more results, not even the pipeline's Sync: without
        # this, waiting for the Sync would spin for ever.
        raise errors.OperationalError(
            pgconn.get_error_message().strip() or "the connection to PostgreSQL was lost"
        )
    return result


def _command_result(pgconn: pq.abc.PGconn) -> pq.abc.PGresult | None:
    """The last result of the next command in the pipeline (each ends with a None)."""
    last = None
    while (result := _next(pgconn)) is not None:
        last = result
    return last


def _until_sync(pgconn: pq.abc.PGconn) -> None:
    while True:
        result = _next(pgconn)
        if result is not None and result.status == pq.ExecStatus.PIPELINE_SYNC:
            return
