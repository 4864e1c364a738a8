"""The live balance stream over real HTTP (uvicorn serving kassa.asgi in this process):
delivery after a charge, heartbeat, Last-Event-ID resume, the connection cap, a stuck client
dropped, and tenant isolation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from kassa.core.services import IssuedKey
from kassa.wallets.stream_asgi import StreamApp
from kassa.wallets.stream_hub import get_hub
from tests.asgi_server import ServerThread
from tests.conftest import ApiClient, make_org
from tests.wallets.sse_client import SseStream
from tests.wallets.stream_fixtures import asgi_server_fixture, wallet_fixture  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def stream_url(server: ServerThread, wallet_id: str) -> str:
    return f"{server.url}/v1/wallets/{wallet_id}/stream"


def bearer(key: IssuedKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.secret}"}


def charge(api: ApiClient, wallet_id: str, amount: int, key: str) -> dict[str, Any]:
    response = api.post(
        f"/v1/wallets/{wallet_id}/charges",
        {"amount": amount, "description": "AI phone minutes"},
        idempotency_key=key,
    )
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def test_the_current_state_then_every_committed_change(
    asgi_server: ServerThread, api: ApiClient, api_key: IssuedKey, wallet: dict[str, Any]
) -> None:
    with SseStream(stream_url(asgi_server, wallet["id"]), bearer(api_key)) as stream:
        assert stream.status_code == 200
        assert stream.response is not None
        assert stream.response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert "no-cache" in stream.response.headers["cache-control"]
        assert stream.next().event == "retry"
        first = stream.next_event()
        assert first.json == {
            "object": "wallet.balance",
            "wallet": wallet["id"],
            "balance": 10_000,
            "currency": "EUR",
            "sequence": int(first.id or 0),
        }
        charge(api, wallet["id"], 2_500, "c1")
        second = stream.next_event()
        assert second.json["balance"] == 7_500
        assert int(second.id or 0) > int(first.id or 0)
        charge(api, wallet["id"], 500, "c2")
        charge(api, wallet["id"], 500, "c2")  # a replay changes nothing and sends nothing
        charge(api, wallet["id"], 1_000, "c3")
        balances = [stream.next_event().json["balance"], stream.next_event().json["balance"]]
        assert balances == [7_000, 6_000]


def test_a_refused_charge_sends_nothing(
    asgi_server: ServerThread,
    api: ApiClient,
    api_key: IssuedKey,
    wallet: dict[str, Any],
    settings: Any,
) -> None:
    settings.KASSA_SSE_HEARTBEAT_SECONDS = 0.2
    with SseStream(stream_url(asgi_server, wallet["id"]), bearer(api_key)) as stream:
        stream.next_event()
        refused = api.post(
            f"/v1/wallets/{wallet['id']}/charges", {"amount": 99_999, "description": "too much"}
        )
        assert refused.status_code == 402
        assert stream.next().event == "comment"  # a heartbeat, not a balance


def test_heartbeat(
    asgi_server: ServerThread, api_key: IssuedKey, wallet: dict[str, Any], settings: Any
) -> None:
    settings.KASSA_SSE_HEARTBEAT_SECONDS = 0.2
    with SseStream(stream_url(asgi_server, wallet["id"]), bearer(api_key)) as stream:
        stream.next_event()
        for _ in range(2):
            beat = stream.next()
            assert (beat.event, beat.comments) == ("comment", ["heartbeat"])


def test_the_heartbeat_interval_defaults_to_15_seconds(settings: Any) -> None:
    from kassa.config import load_config

    assert load_config({"KASSA_SECRET_KEY": "x" * 40}).sse_heartbeat_seconds == 15


def test_last_event_id_resume(
    asgi_server: ServerThread,
    api: ApiClient,
    api_key: IssuedKey,
    wallet: dict[str, Any],
    settings: Any,
) -> None:
    settings.KASSA_SSE_HEARTBEAT_SECONDS = 0.2
    url = stream_url(asgi_server, wallet["id"])
    with SseStream(url, bearer(api_key)) as stream:
        seen = stream.next_event()
    # Up to date: nothing is repeated; the next thing is a heartbeat, then new changes.
    with SseStream(url, {**bearer(api_key), "Last-Event-ID": seen.id or ""}) as stream:
        assert stream.next().event == "retry"
        assert stream.next().event == "comment"
        charge(api, wallet["id"], 1_000, "r1")
        assert stream.next_event().json["balance"] == 9_000
    # Missed changes while away: the current state comes first.
    charge(api, wallet["id"], 1_000, "r2")
    charge(api, wallet["id"], 1_000, "r3")
    with SseStream(url, {**bearer(api_key), "Last-Event-ID": seen.id or ""}) as stream:
        caught_up = stream.next_event()
        assert caught_up.json["balance"] == 7_000
        assert int(caught_up.id or 0) > int(seen.id or 0)
    # EventSource cannot send headers on its first connection: ?last_event_id= does the same.
    with SseStream(f"{url}?last_event_id={caught_up.id}", bearer(api_key)) as stream:
        assert stream.next().event == "retry"
        assert stream.next().event == "comment"


def test_the_connection_cap(
    asgi_server: ServerThread, api_key: IssuedKey, wallet: dict[str, Any], settings: Any
) -> None:
    settings.KASSA_SSE_MAX_CONNECTIONS = 2
    url = stream_url(asgi_server, wallet["id"])
    first = SseStream(url, bearer(api_key)).__enter__()
    second = SseStream(url, bearer(api_key)).__enter__()
    try:
        assert first.status_code == second.status_code == 200
        first.next_event()
        second.next_event()
        with SseStream(url, bearer(api_key)) as refused:
            assert refused.status_code == 503
            assert refused.response is not None
            assert refused.response.headers["retry-after"] == "5"
            assert refused.error()["error"]["code"] == "too_many_streams"
        first.close()
        # The server notices the disconnect and frees the slot.
        deadline = time.monotonic() + 20
        while True:
            with SseStream(url, bearer(api_key)) as third:
                if third.status_code == 200:
                    assert third.next_event().json["wallet"] == wallet["id"]
                    break
            assert time.monotonic() < deadline, "the closed stream's slot was never freed"
            time.sleep(0.1)
    finally:
        first.close()
        second.close()


def test_another_organizations_wallet_is_not_found(
    asgi_server: ServerThread, wallet: dict[str, Any], make_api: Any
) -> None:
    from kassa.core.actors import Actor
    from kassa.core.services import create_api_key

    other = make_org("Other Shop")
    other_key = create_api_key(other, actor=Actor.system("test"), mode="test")
    url = stream_url(asgi_server, wallet["id"])
    with SseStream(url, bearer(other_key)) as stream:
        assert stream.status_code == 404
        assert stream.error()["error"]["code"] == "resource_missing"
    with SseStream(url, {"Authorization": "Bearer sk_test_wrong"}) as stream:
        assert stream.status_code == 401
        assert stream.error()["error"]["type"] == "authentication_error"
    with SseStream(url) as stream:
        assert stream.status_code == 401
    missing = stream_url(asgi_server, "wal_" + "0" * 26)
    with SseStream(missing, bearer(other_key)) as stream:
        assert stream.status_code == 404


def test_a_stuck_client_is_dropped(
    api: ApiClient, api_key: IssuedKey, wallet: dict[str, Any], settings: Any
) -> None:
    """A client that stops reading: the write blocks (its TCP window is full). After
    KASSA_SSE_SEND_TIMEOUT the stream gives up, and the process forgets it."""
    settings.KASSA_SSE_SEND_TIMEOUT = 0.2
    settings.KASSA_SSE_HEARTBEAT_SECONDS = 60

    async def scenario() -> tuple[int, int, list[Any]]:
        app = StreamApp(None)
        written: list[Any] = []
        stuck = asyncio.Event()

        async def receive() -> dict[str, Any]:
            await asyncio.Event().wait()  # the client never disconnects
            return {}

        async def send(message: dict[str, Any]) -> None:
            if len(written) >= 3:  # start, retry hint, first state; then the socket is full
                stuck.set()
                await asyncio.Event().wait()
            written.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": f"/v1/wallets/{wallet['id']}/stream",
            "query_string": b"",
            "headers": [(b"authorization", f"Bearer {api_key.secret}".encode())],
        }
        task = asyncio.ensure_future(app(scope, receive, send))
        hub = get_hub()
        while len(written) < 3:
            await asyncio.sleep(0.01)
        during = hub.connections
        await sync_to_async(charge, thread_sensitive=False)(api, wallet["id"], 100, "s1")
        await asyncio.wait_for(task, 10)  # the stream ended by itself
        assert stuck.is_set()
        return during, hub.connections, written

    during, after, written = asyncio.run(scenario())
    assert (during, after) == (1, 0)
    assert written[0]["status"] == 200


def test_changes_made_by_another_process_arrive_on_sqlite(
    asgi_server: ServerThread,
    api: ApiClient,
    api_key: IssuedKey,
    wallet: dict[str, Any],
    settings: Any,
) -> None:
    """On SQLite the worker (top-ups, auto top-ups) is another process: its changes are not
    published to this process's hub, and the poller finds them."""
    from django.db import connection

    from kassa.wallets.signals import balance_changed
    from kassa.wallets.stream_publish import on_balance_changed

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL delivers across processes with LISTEN/NOTIFY (tested apart)")
    # Slow enough that the charge below lands before the poller's first look at this wallet:
    # that first look must still deliver it.
    settings.KASSA_SSE_POLL_SECONDS = 0.5
    with SseStream(stream_url(asgi_server, wallet["id"]), bearer(api_key)) as stream:
        first = stream.next_event()
        # As if committed elsewhere: nothing is published in this process.
        balance_changed.disconnect(on_balance_changed, dispatch_uid="kassa.wallets.stream_publish")
        try:
            charge(api, wallet["id"], 1_234, "elsewhere")
        finally:
            balance_changed.connect(on_balance_changed, dispatch_uid="kassa.wallets.stream_publish")
        event = stream.next_event(within=10)
        assert event.json["balance"] == 10_000 - 1_234
        assert int(event.id or 0) > int(first.id or 0)
