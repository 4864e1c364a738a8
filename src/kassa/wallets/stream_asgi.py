"""Live balance streams (Server-Sent Events) as a small ASGI app in front of Django's.

`GET /v1/wallets/{id}/stream` (API key) and `GET /portal/wallets/{id}/stream` (the portal's
customer session) are answered here; every other request goes to Django. A stream is a
coroutine waiting on its hub subscription, not a Django request holding a thread, so one
process keeps thousands open. The database is touched only to authenticate and to read the
current state (through `sync_to_async`).

Protocol (see docs/sse.md): on connect the current state is sent as a `balance` event whose id
is the wallet's sequence, unless the client's `Last-Event-ID` is already that sequence; then
every committed change, and a comment line as heartbeat every KASSA_SSE_HEARTBEAT_SECONDS.
Beyond KASSA_SSE_MAX_CONNECTIONS streams in one process the answer is 503 with Retry-After; a
stream whose write has not completed after KASSA_SSE_SEND_TIMEOUT seconds is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from kassa.wallets.stream_hub import BalanceEvent, Hub, get_hub

logger = logging.getLogger("kassa.wallets.stream")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_WALLET = r"(wal_[0-9a-z]{26})"
API_STREAM = re.compile(rf"^/v1/wallets/{_WALLET}/stream/?$")
PORTAL_STREAM = re.compile(rf"^/portal/wallets/{_WALLET}/stream/?$")
RETRY_MS = 3000
_LISTEN_WAIT_SECONDS = 5.0


class StreamClosed(Exception):
    """The client went away or stopped reading; the stream ends."""


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _session_key(headers: dict[str, str]) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(raw)
    except Exception:  # a malformed cookie header is the same as none
        return None
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    return morsel.value if morsel is not None else None


def _last_event_id(headers: dict[str, str], scope: Scope) -> int | None:
    raw = headers.get("last-event-id", "").strip()
    if not raw:
        # EventSource cannot set headers on its first connection; allow ?last_event_id=.
        for part in scope.get("query_string", b"").decode("latin-1").split("&"):
            name, _, value = part.partition("=")
            if name == "last_event_id":
                raw = value.strip()
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def format_event(event: BalanceEvent) -> bytes:
    data = {
        "object": "wallet.balance",
        "wallet": event.wallet_id,
        "balance": event.balance,
        "currency": event.currency,
        "sequence": event.sequence,
    }
    return f"id: {event.sequence}\nevent: balance\ndata: {json.dumps(data)}\n\n".encode()


async def _respond(send: Send, status: int, body: dict[str, Any], extra: list[Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _error(status: int, type_: str, code: str, message: str) -> dict[str, Any]:
    return {"error": {"type": type_, "code": code, "message": message, "param": None}}


class StreamApp:
    """Routes the two stream paths to `serve_stream`, everything else to `django_app`."""

    def __init__(self, django_app: Any) -> None:
        self.django_app: ASGIApp = django_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            match = API_STREAM.match(path)
            if match:
                await serve_stream(scope, receive, send, match.group(1), portal=False)
                return
            match = PORTAL_STREAM.match(path)
            if match:
                await serve_stream(scope, receive, send, match.group(1), portal=True)
                return
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        await self.django_app(scope, receive, send)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await get_hub().close()
            await send({"type": "lifespan.shutdown.complete"})
            return


def _hub() -> Hub:
    from kassa.wallets.stream_publish import listener_for_database

    return get_hub(listener_for_database())


async def serve_stream(
    scope: Scope, receive: Receive, send: Send, wallet_id: str, *, portal: bool
) -> None:
    from kassa.wallets import stream_state

    hub = _hub()
    if hub.connections >= settings.KASSA_SSE_MAX_CONNECTIONS:
        await _respond(
            send,
            503,
            _error(503, "api_error", "too_many_streams", "Too many open streams; retry shortly."),
            [(b"retry-after", b"5")],
        )
        return
    # Counted from here, before any await, so concurrent connects cannot overshoot the cap.
    sub = hub.subscribe(wallet_id)
    try:
        # The listener must be up before the state is read: a change committed after the read
        # then reaches the subscription (at worst twice; the second copy is not sent).
        if not await hub.wait_listening(_LISTEN_WAIT_SECONDS):
            await _respond(
                send,
                503,
                _error(503, "api_error", "stream_unavailable", "Live updates are unavailable."),
                [(b"retry-after", b"5")],
            )
            return
        headers = _headers(scope)
        if portal:
            opened = await sync_to_async(
                stream_state.open_for_portal_session, thread_sensitive=False
            )(_session_key(headers), wallet_id)
        else:
            opened = await sync_to_async(stream_state.open_for_api_key, thread_sensitive=False)(
                _bearer(headers), wallet_id
            )
        if opened.status == "unauthenticated":
            message = (
                "Sign in to the portal first."
                if portal
                else "No valid API key provided; send Authorization: Bearer sk_test_...."
            )
            await _respond(
                send, 401, _error(401, "authentication_error", "invalid_api_key", message), []
            )
            return
        if opened.wallet is None or opened.state is None:
            await _respond(
                send,
                404,
                _error(404, "invalid_request_error", "resource_missing", "No such object."),
                [],
            )
            return
        wallet, current = opened.wallet, opened.state
        stream = _Stream(send, settings.KASSA_SSE_SEND_TIMEOUT)
        await stream.start()
        last_id = _last_event_id(headers, scope)
        if last_id != current.sequence:
            await stream.write(format_event(current))
        last_sent = current.sequence
        await _pump(stream, sub, receive, wallet, last_sent)
    except StreamClosed:
        pass
    finally:
        sub.close()


async def _pump(stream: _Stream, sub: Any, receive: Receive, wallet: Any, last_sent: int) -> None:
    """Send changes and heartbeats until the client disconnects or stops reading."""
    from kassa.wallets import stream_state

    disconnected = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        while not disconnected.done():
            waiter = asyncio.ensure_future(sub.wait(settings.KASSA_SSE_HEARTBEAT_SECONDS))
            done, _ = await asyncio.wait(
                {waiter, disconnected}, return_when=asyncio.FIRST_COMPLETED
            )
            if waiter not in done:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
                return
            event, resync = waiter.result()
            if resync:
                fresh = await sync_to_async(stream_state.current_event, thread_sensitive=False)(
                    wallet
                )
                if event is None or fresh.sequence > event.sequence:
                    event = fresh
            if event is None:
                await stream.write(b": heartbeat\n\n")
            elif event.sequence > last_sent:
                await stream.write(format_event(event))
                last_sent = event.sequence
    finally:
        disconnected.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await disconnected


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class _Stream:
    def __init__(self, send: Send, timeout: float) -> None:
        self._send = send
        self._timeout = timeout

    async def _guarded(self, message: Message) -> None:
        try:
            await asyncio.wait_for(self._send(message), self._timeout)
        except TimeoutError:
            logger.info("dropping a stuck SSE client (write timed out)")
            raise StreamClosed from None
        except OSError:
            raise StreamClosed from None

    async def start(self) -> None:
        await self._guarded(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache, no-store, no-transform"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        await self.write(f"retry: {RETRY_MS}\n\n".encode())

    async def write(self, chunk: bytes) -> None:
        await self._guarded({"type": "http.response.body", "body": chunk, "more_body": True})
