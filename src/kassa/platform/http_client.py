"""A small HTTP/1.1 client for webhook POSTs: asyncio transports, httptools to parse responses,
keep-alive pools per origin, TLS with the system's trust store.

Why not aiohttp or httpx: a webhook POST needs very little of a general client (no cookies,
redirects, proxies, decompression or streaming), and measured on this code path this client
spends about a fifth of aiohttp's CPU per request (docs/webhooks.md, Benchmark), which is what
bounds a worker's deliveries per second. It also owns the SSRF rule at connect time: names are
resolved here and only public addresses are dialled (unless private ones are allowed).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools

from kassa.platform.netguard import (
    PRIVATE_ADDRESSES_HINT,
    is_public_address,
    private_addresses_allowed,
)


class RefusedAddress(OSError):
    """The URL's host has no public address (SSRF guard)."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body_head: bytes


@dataclass
class _Exchange:
    head_limit: int
    future: asyncio.Future[Response]
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    headers_done: bool = False


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: _Exchange | None = None
        self.reusable = True
        self.received_any = False
        self.closed = False

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        if self.exchange is None:  # bytes nobody asked for: the connection is unusable
            self.reusable = False
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ConnectionError("the receiver switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"invalid HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        exchange = self.exchange
        if exchange is None or exchange.future.done():
            return
        if exchange.headers_done:
            # A body delimited by the end of the connection.
            self._finish()
        else:
            exchange.future.set_exception(
                ConnectionError("the connection closed before a response arrived")
            )

    # -- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.exchange is not None
        self.exchange.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        assert self.exchange is not None
        self.exchange.status = self.parser.get_status_code()
        self.exchange.headers_done = True

    def on_body(self, body: bytes) -> None:
        assert self.exchange is not None
        room = self.exchange.head_limit - len(self.exchange.body)
        if room > 0:
            self.exchange.body += body[:room]

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.reusable = False
        self._finish()

    # -- helpers
    def _finish(self) -> None:
        exchange, self.exchange = self.exchange, None
        if exchange is not None and not exchange.future.done():
            exchange.future.set_result(
                Response(exchange.status, exchange.headers, bytes(exchange.body))
            )

    def _fail(self, exc: Exception) -> None:
        exchange, self.exchange = self.exchange, None
        self.reusable = False
        self.close()
        if exchange is not None and not exchange.future.done():
            exchange.future.set_exception(exc)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    @property
    def usable(self) -> bool:
        return (
            self.reusable
            and not self.closed
            and self.transport is not None
            and not self.transport.is_closing()
        )

    async def request(self, data: bytes, head_limit: int) -> Response:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.exchange = _Exchange(head_limit=head_limit, future=loop.create_future())
        self.received_any = False
        self.parser = httptools.HttpResponseParser(self)
        self.transport.write(data)
        return await self.exchange.future


class HttpClient:
    """POSTs with keep-alive. Use one per event loop; `close()` when done."""

    def __init__(
        self,
        *,
        concurrency: int = 256,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "Kassa-Webhooks/1",
    ) -> None:
        self._limit = asyncio.Semaphore(concurrency)
        # Idle keep-alive connections kept per origin: as many as may be in flight, so a batch
        # that used them all reuses them all next time instead of reconnecting.
        self._max_idle = concurrency
        self._idle: dict[tuple[str, str, int], list[_Connection]] = defaultdict(list)
        self._ssl = ssl_context
        self._user_agent = user_agent

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def _addresses(self, host: str, port: int) -> list[str]:
        allow_private = private_addresses_allowed()
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            if not allow_private and not is_public_address(literal):
                raise RefusedAddress(
                    f"{host} is not a public address; webhooks are only sent to public ones. "
                    + PRIVATE_ADDRESSES_HINT
                )
            return [str(literal)]
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = []
        for _, _, _, _, sockaddr in infos:
            address = str(sockaddr[0]).split("%", 1)[0]
            public = allow_private or is_public_address(ipaddress.ip_address(address))
            if public and address not in addresses:
                addresses.append(address)
        if not addresses:
            raise RefusedAddress(
                f"{host} has no public address; webhooks are only sent to public ones. "
                + PRIVATE_ADDRESSES_HINT
            )
        return addresses

    async def _connect(self, scheme: str, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        last: Exception | None = None
        for address in await self._addresses(host, port):
            try:
                if scheme == "https":
                    _, protocol = await loop.create_connection(
                        _Connection,
                        address,
                        port,
                        ssl=self._ssl_context(),
                        server_hostname=host,
                    )
                else:
                    _, protocol = await loop.create_connection(_Connection, address, port)
                return protocol
            except OSError as exc:
                last = exc
        raise last or ConnectionError(f"cannot connect to {host}")

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, head_limit: int = 1024
    ) -> Response:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"cannot send to {url!r}")
        host = parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
        default_port = port == (443 if scheme == "https" else 80)
        host_header = host if ":" not in host else f"[{host}]"
        if not default_port:
            host_header = f"{host_header}:{port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"POST {target} HTTP/1.1", f"host: {host_header}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += [f"user-agent: {self._user_agent}", f"content-length: {len(body)}"]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        origin = (scheme, host, port)
        async with self._limit:
            idle = self._idle[origin]
            while idle:
                connection = idle.pop()
                if not connection.usable:
                    continue
                try:
                    response = await connection.request(data, head_limit)
                except ConnectionError:
                    connection.close()
                    # The receiver closed this idle connection before we wrote; nothing
                    # reached it, so a fresh connection is tried (not a retry of a delivery).
                    if connection.received_any:
                        raise
                    continue
                except BaseException:  # a timeout (cancellation): the exchange is abandoned
                    connection.close()
                    raise
                self._release(origin, connection)
                return response
            connection = await self._connect(scheme, host, port)
            try:
                response = await connection.request(data, head_limit)
            except BaseException:
                connection.close()
                raise
            self._release(origin, connection)
            return response

    def _release(self, origin: tuple[str, str, int], connection: _Connection) -> None:
        idle = self._idle[origin]
        if connection.usable and len(idle) < self._max_idle:
            idle.append(connection)
        else:
            connection.close()

    async def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        await asyncio.sleep(0)

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
