"""kassa.platform.pgwire on PostgreSQL: a connection lost in the middle of a batch."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.db import OperationalError, close_old_connections, connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _terminate_soon(backend_pid: int) -> threading.Thread:
    settings = connection.settings_dict

    def terminate() -> None:
        time.sleep(0.5)  # the batch below is then waiting on pg_sleep
        with psycopg.connect(
            host=settings["HOST"] or None,
            port=settings["PORT"] or None,
            user=settings["USER"],
            dbname=settings["NAME"],
            autocommit=True,
        ) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))

    thread = threading.Thread(target=terminate)
    thread.start()
    return thread


def test_a_batch_on_a_terminated_connection_raises_and_the_next_request_reconnects() -> None:
    outcome: list[BaseException | None] = []
    afterwards: list[object] = []

    def request() -> None:
        connection.ensure_connection()
        terminator = _terminate_soon(connection.connection.info.backend_pid)
        try:
            connection.run_batch([("SELECT pg_sleep(5)", (), True), ("SELECT %s", (1,), True)])
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)
        terminator.join()
        # Django drops the broken connection at the end of the request; the next statement
        # gets a new one.
        close_old_connections()
        afterwards.extend(connection.run_batch([("SELECT %s", (2,), True)]))
        connection.close()

    # In a thread of its own, so that a batch spinning for ever on the lost connection (the
    # bug this guards against) fails the test instead of hanging the suite.
    thread = threading.Thread(target=request, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the batch never returned on the lost connection"
    assert len(outcome) == 1 and isinstance(outcome[0], OperationalError), outcome
    assert afterwards == [[(2,)]]
