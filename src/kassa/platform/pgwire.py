"""The hot paths' statements sent through libpq directly (PostgreSQL).

psycopg's cursors cost about 70 µs of CPU per statement on the 2-core machine and its pipelines
about 150 µs for three statements; the same statements through its libpq wrapper (`pgconn`)
cost about 40 µs, one or three alike: the price is the system calls of a round trip, which a
batch pays once. `run` sends a batch of statements in one round trip and returns each one's
rows: the deferred writes (`kassa.platform.fastdb`), BEGIN, savepoints, the statement whose
answer is wanted, COMMIT. Parameters are adapted and rows loaded by psycopg's own Transformer,
so values come and go exactly as through a cursor.

Statements with parameters are prepared once per connection (on first use, in the same round
trip) under names of their own. psycopg's own prepared statements are switched off in the
settings: psycopg answers a ROLLBACK by deallocating every prepared statement on the connection,
ours included, and Kassa prepares only here. Commands without parameters (BEGIN, SAVEPOINT,
COMMIT, SET) are sent unprepared.

A batch is one pipeline (libpq's pipeline mode, one Sync). The first failing statement raises
its psycopg error (which Django's `wrap_database_errors` turns into its own); PostgreSQL skips
the rest of the batch, and the transaction it belongs to is then failed, as it would be after
that statement alone.

Failures never leave a thread waiting or a connection half-used:
- Every parameter is adapted (`convert`) before anything is sent, so a value PostgreSQL cannot
  take (a NUL in text) raises psycopg's DataError with nothing in flight. A deferred write is
  converted when it is queued, so its error is raised by the call that queued it.
- Waiting is `poll()` on the socket (select() fails on descriptors >= 1024, and a web process
  holding thousands of live streams hands such sockets to its database connections) with a
  deadline: a batch that outlives its timeout is canceled on the server and raises
  QueryCanceled, and the connection stays usable.
- After any other failure the rest of the pipeline is read up to its Sync and the connection
  leaves pipeline mode; when that cannot be done within a short grace (the connection was lost,
  or a BaseException such as KeyboardInterrupt interrupted the exchange, after which nothing
  that was in flight can be trusted) the connection is closed, and the caller's Django
  connection wrapper replaces it (`kassa.platform.db.postgresql`). The connection's lock is
  released in every case.
"""

from __future__ import annotations

import contextlib
import select
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import abc, errors, pq
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer

# (statement with %s or %(name)s placeholders, its parameters or None for a command sent as
# is, whether its rows are wanted)
Item = tuple[str, Sequence[Any] | dict[str, Any] | None, bool]
Rows = list[tuple[Any, ...]]

DEFAULT_TIMEOUT = 30.0
# How long the clean-up after a failure may wait for the server's remaining answers (and for a
# canceled statement to end) before it gives the connection up.
RECOVERY_SECONDS = 5.0

_ERROR = (pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.BAD_RESPONSE, pq.ExecStatus.NONFATAL_ERROR)
_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
_READ = select.POLLIN | select.POLLERR | select.POLLHUP
_WRITE = _READ | select.POLLOUT


class Converted:
    """A statement with its parameters adapted, ready to send: nothing can fail any more on
    the client's side."""

    __slots__ = ("formats", "key", "params", "query", "types", "want")

    def __init__(
        self,
        query: bytes,
        params: Sequence[abc.Buffer | None] | None,
        types: tuple[int, ...],
        formats: Sequence[pq.Format] | None,
        want: bool,
    ) -> None:
        self.query = query
        self.params = params
        self.types = types
        self.formats = formats
        self.want = want
        self.key = (query, types)


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


def convert(
    conn: psycopg.Connection[Any],
    sql: str,
    params: Sequence[Any] | dict[str, Any] | None,
    want: bool = False,
) -> Converted:
    """Adapt a statement's parameters now (raising psycopg's DataError for a value PostgreSQL
    cannot take); None parameters: a command sent as it is, unprepared."""
    if params is None:
        return Converted(sql.encode(), None, (), None, want)
    query = PostgresQuery(_prepared(conn).tx)
    query.convert(sql, params)
    return Converted(query.query, query.params, tuple(query.types), query.formats, want)


def run(
    conn: psycopg.Connection[Any],
    items: Sequence[Item | Converted],
    *,
    timeout: float | None = None,
) -> list[Rows | None]:
    """Send `items` in one round trip; the rows of each item that wants them (else None).
    Raises QueryCanceled when the batch is not answered within `timeout` seconds."""
    converted = [
        item if isinstance(item, Converted) else convert(conn, item[0], item[1], item[2])
        for item in items
    ]
    deadline = time.monotonic() + (DEFAULT_TIMEOUT if timeout is None else timeout)
    with conn.lock:
        return _run(conn, converted, deadline)


def _run(
    conn: psycopg.Connection[Any], items: list[Converted], deadline: float
) -> list[Rows | None]:
    prepared = _prepared(conn)
    if len(items) == 1 and items[0].params is not None:
        name = prepared.names.get(items[0].key)
        if name is not None:
            return [_run_single(conn, prepared, items[0], name, deadline)]
    pgconn = conn.pgconn
    # Each pipelined command: an item's execution (its index) or a Parse (key, name).
    commands: list[int | tuple[tuple[bytes, tuple[int, ...]], bytes]] = []
    outcome: list[Rows | None] = [None] * len(items)
    error: psycopg.Error | None = None
    synced = False
    pgconn.enter_pipeline_mode()
    try:
        for index, item in enumerate(items):
            if item.params is None:
                pgconn.send_query_params(item.query, None)
                commands.append(index)
                continue
            name = prepared.names.get(item.key)
            if name is None:
                prepared.count += 1
                name = f"_kassa_{prepared.count}".encode()
                pgconn.send_prepare(name, item.query, param_types=item.types)
                commands.append((item.key, name))
            pgconn.send_query_prepared(name, item.params, param_formats=item.formats)
            commands.append(index)
        pgconn.pipeline_sync()
        synced = True
        _flush(pgconn, deadline)
        for command in commands:
            result = _command_result(pgconn, deadline)
            if result is None or result.status == _ABORTED:
                continue
            if result.status in _ERROR:
                error = error or errors.error_from_result(result, encoding=conn.info.encoding)
            elif isinstance(command, tuple):
                prepared.names[command[0]] = command[1]
            elif items[command].want:
                outcome[command] = _load_rows(prepared.tx, result)
        _until_sync(pgconn, deadline)
        pgconn.exit_pipeline_mode()
    except _Timeout:
        _recover(conn, synced=synced, cancel=True, pipeline=True)
        raise _canceled() from None
    except Exception:
        _recover(conn, synced=synced, cancel=False, pipeline=True)
        raise
    except BaseException:
        _discard(conn)
        raise
    if error is not None:
        raise error
    return outcome


def _run_single(
    conn: psycopg.Connection[Any],
    prepared: _Prepared,
    item: Converted,
    name: bytes,
    deadline: float,
) -> Rows | None:
    """One statement already prepared, without pipeline mode: the cheapest round trip."""
    pgconn = conn.pgconn
    try:
        pgconn.send_query_prepared(name, item.params, param_formats=item.formats)
        _flush(pgconn, deadline)
        result = _command_result(pgconn, deadline)
        if result is None:
            raise errors.OperationalError("PostgreSQL sent no result for the statement")
        if result.status in _ERROR:
            raise errors.error_from_result(result, encoding=conn.info.encoding)
        return _load_rows(prepared.tx, result) if item.want else None
    except _Timeout:
        _recover(conn, synced=True, cancel=True, pipeline=False)
        raise _canceled() from None
    except psycopg.Error:
        if pgconn.status == pq.ConnStatus.BAD:
            _discard(conn)
        raise  # the statement's own error: its result was read whole
    except Exception:
        _recover(conn, synced=True, cancel=False, pipeline=False)
        raise
    except BaseException:
        _discard(conn)
        raise


def _load_rows(tx: abc.Transformer, result: pq.abc.PGresult) -> Rows:
    tx.set_pgresult(result)
    return tx.load_rows(0, result.ntuples, tuple)


class _Timeout(Exception):
    """The batch's deadline passed while waiting for the server."""


def _canceled() -> errors.QueryCanceled:
    return errors.QueryCanceled(
        "canceling statement: the database did not answer within the batch timeout"
        " (KASSA_DATABASE_TIMEOUT)"
    )


def _recover(conn: psycopg.Connection[Any], *, synced: bool, cancel: bool, pipeline: bool) -> None:
    """After a failure: read what is left of the exchange so that the connection can be used
    again (out of pipeline mode), or close it when that does not work out in time."""
    pgconn = conn.pgconn
    try:
        if pgconn.status == pq.ConnStatus.BAD:
            raise errors.OperationalError("the connection to PostgreSQL was lost")
        if cancel:
            conn.cancel_safe(timeout=RECOVERY_SECONDS)
        grace = time.monotonic() + RECOVERY_SECONDS
        if pipeline:
            if not synced:
                pgconn.pipeline_sync()
            _flush(pgconn, grace)
            _until_sync(pgconn, grace)
            pgconn.exit_pipeline_mode()
        else:
            _flush(pgconn, grace)
            while _next(pgconn, grace) is not None or pgconn.is_busy():
                pass
    except BaseException:
        _discard(conn)


def _discard(conn: psycopg.Connection[Any]) -> None:
    """Close the connection whatever state it is in (a pool, should there be one, sees a
    closed connection and replaces it)."""
    with contextlib.suppress(Exception):
        conn.pgconn.finish()


def _wait(pgconn: pq.abc.PGconn, deadline: float, *, write: bool = False) -> None:
    # poll() has no limit on descriptor numbers (select() stops at 1024) and releases the GIL
    # while it waits.
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _Timeout()
    poller = select.poll()
    poller.register(pgconn.socket, _WRITE if write else _READ)
    if not poller.poll(remaining * 1000):
        raise _Timeout()


def _flush(pgconn: pq.abc.PGconn, deadline: float) -> None:
    while pgconn.flush():
        _wait(pgconn, deadline, write=True)
        pgconn.consume_input()


def _next(pgconn: pq.abc.PGconn, deadline: float) -> pq.abc.PGresult | None:
    while pgconn.is_busy():
        _wait(pgconn, deadline)
        pgconn.consume_input()
    result = pgconn.get_result()
    if result is None and pgconn.status == pq.ConnStatus.BAD:
        # A lost connection answers no more results, not even the pipeline's Sync: without
        # this, waiting for the Sync would spin for ever.
        raise errors.OperationalError(
            pgconn.get_error_message().strip() or "the connection to PostgreSQL was lost"
        )
    return result


def _command_result(pgconn: pq.abc.PGconn, deadline: float) -> pq.abc.PGresult | None:
    """The last result of the next command in the pipeline (each ends with a None)."""
    last = None
    while (result := _next(pgconn, deadline)) is not None:
        last = result
    return last


def _until_sync(pgconn: pq.abc.PGconn, deadline: float) -> None:
    while True:
        result = _next(pgconn, deadline)
        if result is not None and result.status == pq.ExecStatus.PIPELINE_SYNC:
            return
