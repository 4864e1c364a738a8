"""kassa.platform.pgwire on PostgreSQL: every way a batch can fail leaves no thread waiting and
no connection stuck. After a failure the connection is either back out of pipeline mode and
usable, or discarded so that Django replaces it; nothing holds the connection's lock.

Each test runs its database work in a thread of its own with a deadline, so that a hang (the
bugs these guard against) fails the test instead of hanging the suite."""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.db import DataError, OperationalError, close_old_connections, connection
from django.db import connection as django_connection
from psycopg import pq

from kassa.platform import fastdb, pgwire

pytestmark = [pytest.mark.postgres, pytest.mark.fastpath, pytest.mark.django_db(transaction=True)]


def in_thread(work: Callable[[], Any], deadline: float = 60) -> Any:
    """Run `work` in a thread with this test's database connection settings; its result or
    its exception. Fails when it does not return in time."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("ok", work()))
        except BaseException as exc:  # the test inspects whatever came out
            outcome.append(("raised", exc))
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(deadline)
    assert not thread.is_alive(), f"{work.__name__} did not return within {deadline} s"
    return outcome[0]


def _usable() -> bool:
    """A plain query through Django works on this thread's connection (a new one if the old
    was discarded), and psycopg's connection is not left in pipeline mode."""
    close_old_connections()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 41 + 1")
        assert cursor.fetchone() == (42,)
    assert connection.connection.pgconn.pipeline_status == pq.PipelineStatus.OFF
    assert not connection.connection.lock.locked()
    return True


def _admin() -> psycopg.Connection[Any]:
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"],
        dbname=settings["NAME"],
        autocommit=True,
    )


def _terminate_soon(backend_pid: int) -> threading.Thread:
    def terminate() -> None:
        time.sleep(0.5)  # the batch below is then waiting on pg_sleep
        with _admin() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))

    thread = threading.Thread(target=terminate)
    thread.start()
    return thread


def test_a_batch_on_a_terminated_connection_raises_and_the_next_statement_reconnects() -> None:
    def request() -> Any:
        connection.ensure_connection()
        terminator = _terminate_soon(connection.connection.info.backend_pid)
        try:
            with pytest.raises(OperationalError):
                connection.run_batch([("SELECT pg_sleep(5)", (), True), ("SELECT %s", (1,), True)])
        finally:
            terminator.join()
        # Django drops the broken connection; the next statement gets a new one.
        return connection.run_batch([("SELECT %s", (2,), True)]), _usable()

    assert in_thread(request) == ("ok", ([[(2,)]], True))


@pytest.mark.parametrize(
    "items",
    [
        [("SELECT %s", ("x\x00y",), True)],
        [("SELECT %s::int", (1,), True), ("SELECT %s", ("x\x00y",), True)],
        [("BEGIN", None, False), ("SELECT %s", (1,), True), ("SELECT %s", ("\x00",), False)],
    ],
    ids=["alone", "after-a-statement", "in-a-transaction"],
)
def test_a_parameter_that_cannot_be_sent_raises_at_once_and_sends_nothing(items: Any) -> None:
    """A NUL in a text parameter (PostgreSQL cannot store it) used to hang the thread: the
    batch failed while it was being built, after some statements were in the pipeline and
    before its Sync, and the clean-up then waited for a Sync that never came."""

    def request() -> Any:
        connection.ensure_connection()
        before = connection.connection.pgconn.transaction_status
        with pytest.raises(DataError):
            connection.run_batch(items)
        # Nothing reached the server: not even the BEGIN.
        assert connection.connection.pgconn.transaction_status == before
        return _usable()

    assert in_thread(request) == ("ok", True)


def test_a_deferred_write_that_cannot_be_sent_raises_where_it_is_queued() -> None:
    """The error belongs to the write, not to whichever later statement would send it."""
    from django.db import transaction

    def request() -> Any:
        with transaction.atomic():
            fastdb.execute("SELECT %s", [1], defer=True)
            with pytest.raises(DataError):
                fastdb.execute("SELECT %s", ["x\x00y"], defer=True)
            # The transaction goes on: the good write is still queued and the bad one is not.
            assert len(connection.kassa_deferred) == 2  # BEGIN and the good write
            rows = connection.run_batch([("SELECT %s::text", ("after",), True)])
        return rows, _usable()

    assert in_thread(request) == ("ok", ([[("after",)]], True))


def test_a_server_error_in_the_middle_of_a_batch_raises_it_and_leaves_pipeline_mode() -> None:
    def request() -> Any:
        connection.ensure_connection()
        with pytest.raises(DataError, match="division by zero"):
            connection.run_batch(
                [
                    ("SELECT %s::int", (1,), True),
                    ("SELECT 1 / %s::int", (0,), True),
                    ("SELECT %s::int", (3,), True),
                ]
            )
        return connection.run_batch([("SELECT %s::int", (4,), True)]), _usable()

    assert in_thread(request) == ("ok", ([[(4,)]], True))


@pytest.mark.parametrize("prepared_first", [False, True], ids=["pipeline", "single-statement"])
def test_a_batch_that_takes_too_long_is_canceled_and_the_connection_stays(
    prepared_first: bool,
) -> None:
    def request() -> Any:
        connection.ensure_connection()
        conn = connection.connection
        sleep = ("SELECT pg_sleep(%s::float8)", (0.0,), True)
        if prepared_first:  # later runs of a prepared statement take the single-statement path
            pgwire.run(conn, [sleep])
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            pgwire.run(conn, [(sleep[0], (30.0,), True)], timeout=0.5)
        took = time.monotonic() - started
        return took < 15, pgwire.run(conn, [("SELECT %s::int", (5,), True)]), _usable()

    assert in_thread(request) == ("ok", (True, [[(5,)]], True))


def test_the_django_timeout_setting_applies_to_batches(settings: Any) -> None:
    settings.KASSA_DATABASE_TIMEOUT = 0.5

    def request() -> Any:
        with pytest.raises(OperationalError, match="cancel"):
            connection.run_batch([("SELECT pg_sleep(%s::float8)", (30.0,), True)])
        return _usable()

    assert in_thread(request) == ("ok", True)


class Interrupted(BaseException):
    """Stands for anything that is not an Exception (KeyboardInterrupt, SystemExit, an
    asynchronous exception raised into the thread)."""


@pytest.fixture
def interrupt_once(monkeypatch: pytest.MonkeyPatch) -> None:
    real = pgwire._wait
    calls = {"n": 0}

    def wait(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise Interrupted()
        real(*args, **kwargs)

    monkeypatch.setattr(pgwire, "_wait", wait)


def test_a_base_exception_in_a_batch_discards_the_connection(interrupt_once: None) -> None:
    def request() -> Any:
        connection.ensure_connection()
        raw = connection.connection
        with pytest.raises(Interrupted):
            connection.run_batch(
                [("SELECT pg_sleep(%s::float8)", (0.2,), True), ("SELECT %s::int", (1,), True)]
            )
        # What was in flight is unknown: the connection is closed, never reused half-read.
        assert raw.closed
        assert not raw.lock.locked()
        return connection.run_batch([("SELECT %s::int", (6,), True)]), _usable()

    assert in_thread(request) == ("ok", ([[(6,)]], True))


def test_an_exception_while_reading_results_leaves_pipeline_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any exception, not only a psycopg error (here: loading the rows fails)."""
    real = pgwire._load_rows
    calls = {"n": 0}

    def load(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a loader failed")
        return real(*args)

    monkeypatch.setattr(pgwire, "_load_rows", load)

    def request() -> Any:
        connection.ensure_connection()
        with pytest.raises(RuntimeError, match="a loader failed"):
            connection.run_batch([("SELECT %s::int", (1,), True), ("SELECT %s::int", (2,), True)])
        return connection.run_batch([("SELECT %s::int", (7,), True)]), _usable()

    assert in_thread(request) == ("ok", ([[(7,)]], True))


def test_a_connection_whose_socket_is_past_1024_works() -> None:
    """select.select() cannot wait on a descriptor >= 1024 (FD_SETSIZE); the web process
    holds thousands of streams, so a request thread's connection can get such a socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1300:
        if hard != resource.RLIM_INFINITY and hard < 1300:
            pytest.skip(f"the open files limit ({hard}) is below what this test needs")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1300, hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:

        def request() -> Any:
            # A connection of its own (a pool would hand out one opened earlier).
            with _admin() as conn:
                assert conn.pgconn.socket >= 1024
                return pgwire.run(conn, [("SELECT %s::int", (8,), True), ("SELECT 9", None, True)])

        assert in_thread(request) == ("ok", [[(8,)], [(9,)]])
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_connection_lock_is_free_after_every_failure() -> None:
    """Another thread sharing nothing with the failed one still gets its answers (the lock
    the hung batch held also stopped SIGTERM from ending the server)."""

    def request() -> Any:
        connection.ensure_connection()
        conn = connection.connection
        for bad in ("x\x00", "y\x00"):
            with pytest.raises(psycopg.DataError):
                pgwire.run(conn, [("SELECT %s::int", (1,), True), ("SELECT %s", (bad,), True)])
        assert not conn.lock.locked()
        return pgwire.run(conn, [("SELECT %s::int", (10,), True)])

    assert in_thread(request) == ("ok", [[(10,)]])
    assert django_connection is connection
