"""Django's WSGI handler served from the ASGI server through a pool of request threads.

Django's ASGI handler runs every request through asgiref's `sync_to_async` machinery (a
thread-sensitive context and executor per request, context copies, the async request reader);
for Kassa's views, which are all synchronous, that machinery costs several times more than the
views themselves (docs/benchmarks.md: a bare `/healthz` answered about 1,500 times a second
through it and 6,600 through a WSGI server on the same two cores). Here the ASGI server reads
the request body, one `run_in_executor` hands the WSGI environ to a fixed pool of threads that
run Django's `WSGIHandler`, and the finished response is written back from the event loop.
Live balance streams never get here: `kassa.wallets.stream_asgi` answers them on the loop.

Two lanes: the REST API, the gateways' hooks and the health probes (`API_PATHS`) run through
`KASSA_API_MIDDLEWARE`, which keeps the request guards and security headers and leaves out what
only pages use (sessions, CSRF cookies, staff authentication, messages, locale negotiation,
static files, htmx): about 0.1 ms of CPU per request, a tenth of a small API call. Every other
path gets the whole `MIDDLEWARE`.

Each request thread keeps one database connection for the life of the process (the default,
`KASSA_DATABASE_POOL_SIZE=0`: the threads are a fixed set); with a pool configured, Django's
`request_finished` signal (fired when the response is closed, in the same thread) returns it.

The queue in front of the threads is bounded (`KASSA_WEB_QUEUE_LIMIT` requests waiting for a
thread, per process): past it a request is answered at once with 503 and `Retry-After: 1`
from the event loop, instead of waiting behind work the process cannot finish in time. Under
overload the requests that are taken keep their latency and the rest can go to another node or
come back (docs/deployment.md has the measurement). `/healthz` is never shed: a liveness probe
that failed under load would have the process restarted.

Streaming responses (CSV exports) are iterated in the request thread; each chunk is handed to
the loop and the thread waits until it is written, so a slow client slows the producer instead
of filling memory. A client that disconnects ends the iteration at the next chunk.
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientGone(Exception):
    """The client disconnected while a streaming response was being written."""


class _Response:
    __slots__ = ("headers", "status", "taken")

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.taken = False  # a thread took the request off the queue

    def start(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        self.status = int(status.split(" ", 1)[0])
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        return _no_write


def _no_write(data: bytes) -> None:  # pragma: no cover - Django never uses write()
    raise RuntimeError("the WSGI write() callable is not supported")


def build_environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The PEP 3333 environ for an ASGI HTTP scope (as Django's ASGIHandler builds META)."""
    script_name = scope.get("root_path", "").encode("utf-8").decode("latin-1")
    path_info = scope["path"].encode("utf-8").decode("latin-1")
    if script_name and path_info.startswith(script_name):
        path_info = path_info[len(script_name) :]
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    environ["CONTENT_LENGTH"] = str(len(body))
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        key = name if name in ("CONTENT_LENGTH", "CONTENT_TYPE") else "HTTP_" + name
        value = raw_value.decode("latin-1")
        if key == "CONTENT_LENGTH":
            continue  # set from the body actually read (chunked bodies have none)
        if key in environ:
            # Repeated headers are joined as RFC 9110 allows (cookies with "; ").
            value = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + value
        environ[key] = value
    return environ


API_PATHS = ("/v1/", "/hooks/", "/healthz", "/readyz")
NEVER_SHED = ("/healthz",)
RETRY_AFTER_SECONDS = 1

_BUSY_JSON = (
    b'{"error": {"type": "api_error", "code": "server_busy", "message": "The server is busy;'
    b' retry the request after a second.", "param": null}}'
)
_BUSY_TEXT = b"Kassa is busy. Please try again in a moment.\n"


def _busy_response(path: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    json = path.startswith(API_PATHS)
    body = _BUSY_JSON if json else _BUSY_TEXT
    content_type = b"application/json" if json else b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        (b"cache-control", b"no-store"),
    ]
    return headers, body


class LaneHandler(WSGIHandler):
    """Django's WSGI handler with a middleware list of its own."""

    def __init__(self, middleware: Sequence[str]) -> None:
        self.lane_middleware = list(middleware)
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler reads settings.MIDDLEWARE; it is swapped only while the chain is built
        # (once, at start-up).
        saved = settings.MIDDLEWARE
        settings.MIDDLEWARE = self.lane_middleware
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = saved


class WSGIBridge:
    """An ASGI app that runs a WSGI app (Django's) in a fixed pool of threads."""

    def __init__(
        self,
        wsgi_app: Callable[..., Iterable[bytes]] | None = None,
        *,
        api_app: Callable[..., Iterable[bytes]] | None = None,
        threads: int | None = None,
        max_body_bytes: int | None = None,
        queue_limit: int | None = None,
    ) -> None:
        self.wsgi_app = wsgi_app or WSGIHandler()
        self.api_app = api_app or (
            LaneHandler(settings.KASSA_API_MIDDLEWARE) if wsgi_app is None else wsgi_app
        )
        self.max_body_bytes: int = (
            max_body_bytes if max_body_bytes is not None else settings.KASSA_MAX_REQUEST_BYTES
        )
        self.executor = ThreadPoolExecutor(
            max_workers=threads or settings.KASSA_WEB_THREADS, thread_name_prefix="kassa-web"
        )
        self.queue_limit: int = (
            queue_limit if queue_limit is not None else settings.KASSA_WEB_QUEUE_LIMIT
        )
        # Requests handed to the pool that no thread has taken yet. Incremented on the loop,
        # decremented by the thread that takes the request.
        self.waiting = 0
        self._waiting_lock = threading.Lock()
        self.shed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # websockets: Kassa has none
            await receive()
            await send({"type": "websocket.close", "code": 1000})
            return
        read = await self._read_body(receive)
        if read is None:
            return  # the client left before sending its whole request
        body, size = read
        environ = build_environ(scope, body)
        if size > len(body):
            # Too large: Django's RequestSizeLimitMiddleware answers 413 from the length.
            environ["CONTENT_LENGTH"] = str(size)
        if self.waiting >= self.queue_limit and not scope["path"].startswith(NEVER_SHED):
            self.shed += 1
            headers, busy = _busy_response(scope["path"])
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": busy})
            return
        loop = asyncio.get_running_loop()
        response = _Response()
        with self._waiting_lock:
            self.waiting += 1
        try:
            whole = await loop.run_in_executor(
                self.executor, self._run, environ, response, loop, receive, send
            )
        except BaseException:
            with self._waiting_lock:
                if not response.taken:
                    self.waiting -= 1  # never reached a thread (shutdown, cancellation)
            raise
        if whole is not None:  # the whole answer, computed in the thread
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": response.headers,
                }
            )
            await send({"type": "http.response.body", "body": whole})

    async def _read_body(self, receive: Receive) -> tuple[bytes, int] | None:
        """The body and its size; past the limit the rest is counted, not kept."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.max_body_bytes:
                chunks.append(chunk)
            if not message.get("more_body"):
                return (b"".join(chunks) if size <= self.max_body_bytes else b""), size

    def _run(
        self,
        environ: dict[str, Any],
        response: _Response,
        loop: asyncio.AbstractEventLoop,
        receive: Receive,
        send: Send,
    ) -> bytes | None:
        """Run the app in this thread. A plain response comes back as bytes for the loop to
        send; a streaming one is written from here chunk by chunk and None is returned."""
        with self._waiting_lock:
            self.waiting -= 1
            response.taken = True
        app = self.api_app if environ["PATH_INFO"].startswith(API_PATHS) else self.wsgi_app
        result = app(environ, response.start)
        try:
            if not getattr(result, "streaming", False):
                return b"".join(result)
            gone = threading.Event()
            watcher = asyncio.run_coroutine_threadsafe(_watch_disconnect(receive, gone), loop)

            def write(message: Message) -> None:
                if gone.is_set():
                    raise ClientGone()
                asyncio.run_coroutine_threadsafe(_sent(send, message), loop).result()

            write(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": response.headers,
                }
            )
            try:
                for chunk in result:
                    if chunk:
                        write({"type": "http.response.body", "body": chunk, "more_body": True})
                write({"type": "http.response.body", "body": b""})
            except ClientGone:
                pass
            finally:
                watcher.cancel()
            return None
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # fires request_finished: the thread's connection goes back


async def _sent(send: Send, message: Message) -> None:
    await send(message)


async def _watch_disconnect(receive: Receive, gone: threading.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
