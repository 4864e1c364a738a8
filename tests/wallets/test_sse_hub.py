"""The per-process hub and the publisher, without HTTP: fan-out, coalescing, heartbeat
timeouts, cross-thread publishing, the balance_changed receiver and (on PostgreSQL) the
LISTEN/NOTIFY path including a lost listening connection."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.db import connection, transaction

from kassa.wallets.signals import send_balance_changed_on_commit
from kassa.wallets.stream_hub import CHANNEL, BalanceEvent, Hub, get_hub, publish_local
from kassa.wallets.stream_publish import postgres_listener
from tests.wallets.loop_thread import LoopThread, loop_thread  # noqa: F401  (fixture)


def event(wallet: str = "wal_a", sequence: int = 1, balance: int = 100) -> BalanceEvent:
    return BalanceEvent(
        wallet_id=wallet,
        organization_id="org_x",
        balance=balance,
        currency="EUR",
        sequence=sequence,
    )


def test_dispatch_reaches_only_the_wallets_subscribers() -> None:
    async def scenario() -> tuple[object, object]:
        hub = Hub(asyncio.get_running_loop(), None)
        a1, a2, b = hub.subscribe("wal_a"), hub.subscribe("wal_a"), hub.subscribe("wal_b")
        assert hub.connections == 3
        hub.dispatch(event("wal_a", 7))
        got = (await a1.wait(1), await a2.wait(1))
        assert await b.wait(0.01) == (None, False)  # nothing for wal_b: a heartbeat timeout
        for sub in (a1, a2, b):
            sub.close()
        assert hub.connections == 0
        assert hub.subscribed_wallets() == []
        return got

    first, second = asyncio.run(scenario())
    assert first == second == (event("wal_a", 7), False)


def test_a_slow_subscriber_keeps_only_the_newest_state() -> None:
    async def scenario() -> object:
        hub = Hub(asyncio.get_running_loop(), None)
        sub = hub.subscribe("wal_a")
        for seq in (3, 9, 5):  # 5 arrives late (another process): older than 9, ignored
            hub.dispatch(event("wal_a", seq, balance=seq * 10))
        result = await sub.wait(1)
        nothing = await sub.wait(0.01)
        sub.close()
        return result, nothing

    assert asyncio.run(scenario()) == ((event("wal_a", 9, balance=90), False), (None, False))


def test_resync_is_signalled_to_every_subscriber() -> None:
    async def scenario() -> list[object]:
        hub = Hub(asyncio.get_running_loop(), None)
        subs = [hub.subscribe("wal_a"), hub.subscribe("wal_b")]
        hub.resync_all()
        return [await sub.wait(1) for sub in subs]

    assert asyncio.run(scenario()) == [(None, True), (None, True)]


def test_publish_local_from_another_thread(loop_thread: LoopThread) -> None:  # noqa: F811
    async def subscribe() -> object:
        return get_hub().subscribe("wal_t")

    sub = loop_thread.run(subscribe())
    publisher = threading.Thread(target=publish_local, args=(event("wal_t", 4),))
    publisher.start()
    publisher.join()
    assert loop_thread.run(sub.wait(5)) == (event("wal_t", 4), False)  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
def test_the_signal_is_published_after_commit_only(loop_thread: LoopThread) -> None:  # noqa: F811
    async def subscribe() -> object:
        return get_hub().subscribe("wal_c")

    sub = loop_thread.run(subscribe())
    try:
        with transaction.atomic():
            send_balance_changed_on_commit(
                wallet_id="wal_c", organization_id="org_x", balance=5, currency="EUR", sequence=1
            )
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    with transaction.atomic():
        send_balance_changed_on_commit(
            wallet_id="wal_c", organization_id="org_x", balance=7, currency="EUR", sequence=2
        )
    got = loop_thread.run(sub.wait(5))  # type: ignore[attr-defined]
    assert got == (
        BalanceEvent(
            wallet_id="wal_c", organization_id="org_x", balance=7, currency="EUR", sequence=2
        ),
        False,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_notifications_from_another_connection_reach_the_hub(
    loop_thread: LoopThread,  # noqa: F811
) -> None:
    async def start() -> tuple[Hub, object]:
        hub = Hub(asyncio.get_running_loop(), postgres_listener)
        sub = hub.subscribe("wal_n")
        assert await hub.wait_listening(10)
        return hub, sub

    hub, sub = loop_thread.run(start())
    with connection.cursor() as cursor:  # another connection: the test's own
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, event("wal_n", 11).to_json()])
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, "not json"])  # ignored
    assert loop_thread.run(sub.wait(10)) == (event("wal_n", 11), False)  # type: ignore[attr-defined]

    # The listening connection dies: the hub reconnects and asks every stream to resync,
    # because whatever was notified meanwhile is lost.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'kassa-sse-listener' AND datname = current_database()"
        )
    assert loop_thread.run(sub.wait(30), timeout=35) == (None, True)  # type: ignore[attr-defined]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, event("wal_n", 12).to_json()])
    assert loop_thread.run(sub.wait(10)) == (event("wal_n", 12), False)  # type: ignore[attr-defined]
    loop_thread.run(hub.close())
