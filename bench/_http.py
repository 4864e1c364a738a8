"""A lean HTTP/1.1 keep-alive client for the benchmarks.

The benchmark clients share the two cores with Kassa and PostgreSQL, so their own CPU per
request is taken from what they measure. httpx spends about 1.3 ms of CPU per request here;
this client (asyncio protocol, httptools parser, one connection per simulated client, one
request in flight on it) spends a small fraction of that, so the figures are Kassa's.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import httptools


class HttpError(Exception):
    pass


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.future: asyncio.Future[Response] | None = None
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"bad response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or HttpError("connection closed")
        self._fail(self.lost)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        future, self.future = self.future, None
        if future is not None and not future.done():
            future.set_result(
                Response(self.parser.get_status_code(), self.headers, b"".join(self.body))
            )

    def _fail(self, exc: BaseException) -> None:
        future, self.future = self.future, None
        if future is not None and not future.done():
            future.set_exception(exc)


class Client:
    """One keep-alive connection; `request` sends one request at a time on it."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.default_headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.protocol: _Protocol | None = None

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
        return protocol

    async def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        body: bytes | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Response:
        if json_body is not None:
            body = json.dumps(json_body).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        head += self.default_headers + extra
        if body is not None:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        data = (head + "\r\n").encode("latin-1") + (body or b"")
        for attempt in (1, 2):
            protocol = self.protocol
            if protocol is None or protocol.lost is not None:
                protocol = self.protocol = await self._connect()
            protocol.headers, protocol.body = {}, []
            protocol.future = asyncio.get_running_loop().create_future()
            assert protocol.transport is not None
            protocol.transport.write(data)
            try:
                return await protocol.future
            except (HttpError, ConnectionError):
                self.protocol = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, json_body: Any = None, **kwargs: Any) -> Response:
        return await self.request("POST", path, json_body, **kwargs)

    def close(self) -> None:
        if self.protocol is not None and self.protocol.transport is not None:
            self.protocol.transport.close()
        self.protocol = None
