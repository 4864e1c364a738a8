"""Deferred writes (kassa.platform.fastdb, `defer=True`) on PostgreSQL: queued on the connection,
sent ahead of the next statement or with the COMMIT, dropped by a rollback. Round trips are
counted in libpq's protocol trace: each turn from the client's messages to the server's."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from psycopg import pq

from kassa.events.models import Event
from kassa.ledger import services as ledger
from kassa.platform import fastdb
from tests.conftest import make_org

pytestmark = [pytest.mark.postgres, pytest.mark.fastpath, pytest.mark.django_db(transaction=True)]


class Trips:
    count = 0


@contextmanager
def round_trips() -> Iterator[Trips]:
    """How many times the client waited for PostgreSQL inside the block."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    trips = Trips()
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield trips
        finally:
            pgconn.untrace()
            trace.seek(0)
            lines = trace.read().splitlines()
    # A round trip is a turn from the client's messages to the server's answers.
    directions = [line[0] for line in lines if line[:1] in ("F", "B")]
    trips.count = sum(1 for turn in itertools.pairwise(directions) if turn == ("F", "B"))


def _event(org: Any, n: int) -> Event:
    return Event(organization_id=org.id, type="payment.created", object_id=f"o{n}", data={})


def _block_that_fails(*events: Event, sent_first: Event | None = None) -> None:
    """An atomic block that writes (deferred, after one write sent at once) and then fails."""
    with transaction.atomic():
        if sent_first is not None:
            fastdb.insert(sent_first)
        for event in events:
            fastdb.insert(event, defer=True)
        raise RuntimeError


def test_deferred_writes_go_out_with_the_commit_in_one_round_trip() -> None:
    org = make_org()
    with round_trips() as trips, transaction.atomic():
        for n in range(3):
            fastdb.insert(_event(org, n), defer=True)
        # The BEGIN waits with them.
        assert len(connection.kassa_deferred) == 4  # type: ignore[attr-defined]
    # BEGIN, the three INSERTs and the COMMIT in one pipeline.
    assert trips.count == 1
    assert Event.objects.filter(organization_id=org.id).count() == 3
    with round_trips() as trips, transaction.atomic():
        for n in range(3, 6):
            fastdb.insert(_event(org, n))
    assert trips.count == 4  # BEGIN with the first INSERT, two more, then the COMMIT


def test_every_later_statement_sees_them() -> None:
    org = make_org()
    with transaction.atomic():
        event = _event(org, 1)
        fastdb.insert(event, defer=True)
        # The ORM (a Django cursor) sends the queue first.
        assert Event.objects.filter(pk=event.pk).exists()
        assert not connection.kassa_deferred  # type: ignore[attr-defined]
        second = _event(org, 2)
        fastdb.insert(second, defer=True)
        # So does fastdb, in the same round trip as its own statement.
        with round_trips() as trips:
            assert fastdb.get(Event, "id = %s", [second.pk]) is not None
        assert trips.count == 1
        third = _event(org, 3)
        fastdb.insert(third, defer=True)
        # And the ledger.
        source = ledger.account_id(org.id, kind="external", currency="UZS")
        target = ledger.account_id(org.id, kind="wallet", currency="UZS", owner_id="w")
        ledger.post(
            org.id,
            ledger.transfer(
                kind="t", idempotency_key="k", source=source, destination=target, amount=1
            ),
        )
        assert not connection.kassa_deferred  # type: ignore[attr-defined]
        assert Event.objects.filter(pk=third.pk).exists()


def test_a_rollback_drops_them_and_a_savepoint_rollback_those_inside_it() -> None:
    org = make_org()
    with pytest.raises(RuntimeError):
        _block_that_fails(_event(org, 1))
    assert not connection.kassa_deferred  # type: ignore[attr-defined]
    with transaction.atomic():
        kept = _event(org, 2)
        fastdb.insert(kept, defer=True)
        with pytest.raises(RuntimeError):
            _block_that_fails(_event(org, 3))
        fastdb.insert(_event(org, 4), defer=True)
    assert sorted(Event.objects.values_list("object_id", flat=True)) == ["o2", "o4"]


def _commit_deferred(*events: Event) -> None:
    with transaction.atomic():
        for event in events:
            fastdb.insert(event, defer=True)


def test_an_error_surfaces_at_the_commit_and_nothing_is_written() -> None:
    org = make_org()
    event = _event(org, 1)
    fastdb.insert(event)
    with pytest.raises(DatabaseError):
        _commit_deferred(_event(org, 2), event)  # the same primary key again
    assert list(Event.objects.values_list("object_id", flat=True)) == ["o1"]
    assert not connection.in_atomic_block


def test_outside_a_transaction_it_is_written_at_once() -> None:
    org = make_org()
    fastdb.insert(_event(org, 1), defer=True)
    assert not connection.kassa_deferred  # type: ignore[attr-defined]
    assert Event.objects.count() == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX")
def test_notify_is_deferred_until_the_commit() -> None:
    """A NOTIFY sent as a deferred write reaches a listener only once committed."""
    import psycopg

    dsn = connection.get_connection_params()
    listener = psycopg.connect(
        host=dsn.get("host"),
        port=dsn.get("port"),
        user=dsn.get("user"),
        dbname=dsn.get("dbname"),
        autocommit=True,
    )
    with listener:
        listener.execute("LISTEN kassa_test_deferred")
        with transaction.atomic():
            fastdb.execute("SELECT pg_notify('kassa_test_deferred', 'x')", [], defer=True)
            assert list(listener.notifies(timeout=0.2, stop_after=1)) == []
        got = list(listener.notifies(timeout=5, stop_after=1))
        assert [n.payload for n in got] == ["x"]


def test_savepoints_travel_with_the_statements_around_them() -> None:
    org = make_org()
    with round_trips() as trips, transaction.atomic():
        with transaction.atomic():  # SAVEPOINT, RELEASE: queued
            fastdb.insert(_event(org, 1), defer=True)
        with transaction.atomic():
            assert fastdb.get(Event, "object_id = %s", ["o1"]) is not None
    # [BEGIN, SAVEPOINT, INSERT, RELEASE, SAVEPOINT, SELECT], [RELEASE, COMMIT]
    assert trips.count == 2


def test_a_savepoint_rolled_back_before_reaching_the_server_costs_nothing() -> None:
    org = make_org()
    with transaction.atomic():
        fastdb.insert(_event(org, 1), defer=True)
        with round_trips() as trips, pytest.raises(RuntimeError):
            _block_that_fails(_event(org, 2))
        assert trips.count == 0
        # A manual savepoint, with writes after it that Django does not track.
        sid = transaction.savepoint_create()
        fastdb.insert(_event(org, 3), defer=True)
        transaction.savepoint_rollback(sid)
        fastdb.insert(_event(org, 4), defer=True)
    assert sorted(Event.objects.values_list("object_id", flat=True)) == ["o1", "o4"]


def test_a_savepoint_that_reached_the_server_is_rolled_back_there() -> None:
    org = make_org()
    with transaction.atomic():
        fastdb.insert(_event(org, 1), defer=True)
        with pytest.raises(RuntimeError):
            # The first write is sent at once, with the SAVEPOINT before it.
            _block_that_fails(_event(org, 3), sent_first=_event(org, 2))
        sid = transaction.savepoint_create()
        assert Event.objects.filter(object_id="o1").exists()  # sends the SAVEPOINT
        fastdb.insert(_event(org, 4), defer=True)
        transaction.savepoint_rollback(sid)
        fastdb.insert(_event(org, 5), defer=True)
    assert sorted(Event.objects.values_list("object_id", flat=True)) == ["o1", "o5"]


def test_an_empty_transaction_never_reaches_the_server() -> None:
    connection.ensure_connection()
    with round_trips() as trips:
        with transaction.atomic():
            pass
        with pytest.raises(RuntimeError):
            _block_that_fails()
    assert trips.count == 0
