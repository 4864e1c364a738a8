"""The ASGI server hands Django's WSGI handler each request on a pool thread."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.test import override_settings
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from kassa.platform.wsgi_bridge import WSGIBridge, build_environ

seen_threads: list[int] = []
produced: list[int] = []


class RecordThread:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        seen_threads.append(threading.get_ident())
        response: HttpResponse = self.get_response(request)
        seen_threads.append(threading.get_ident())
        return response


def view(request: HttpRequest) -> HttpResponse:
    seen_threads.append(threading.get_ident())
    return HttpResponse("ok")


@csrf_exempt
def echo(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "body": request.body.decode(),
            "accept": request.headers.get("Accept"),
            "cookies": dict(request.COOKIES),
            "path": request.path,
            "query": request.GET.get("q"),
            "remote": request.META.get("REMOTE_ADDR"),
            "session": hasattr(request, "session"),
        }
    )


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def rows() -> Iterator[bytes]:
        for i in range(1000):
            produced.append(i)
            yield f"row {i}\n".encode()

    return StreamingHttpResponse(rows(), content_type="text/plain")


release = threading.Event()
entered = threading.Event()


def slow(request: HttpRequest) -> HttpResponse:
    entered.set()
    release.wait(30)
    return HttpResponse("slow")


urlpatterns = [
    path("v1/slow", slow),
    path("healthz", slow),
    path("slow-page", slow),
    path("probe", view),
    path("v1/echo", echo),
    path("echo", echo),
    path("stream", stream),
]


def _scope(url: str, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    path_, _, query = url.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path_,
        "raw_path": path_.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *(headers or [])],
        "client": ("10.1.2.3", 5000),
        "server": ("127.0.0.1", 8000),
    }


async def _call(
    app: Any,
    url: str,
    *,
    method: str = "GET",
    chunks: list[bytes] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    disconnect_after: int | None = None,
) -> dict[str, Any]:
    pending = list(chunks or [b""])
    sent: list[dict[str, Any]] = []
    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if pending:
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending)}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        bodies = [m for m in sent if m["type"] == "http.response.body"]
        if disconnect_after is not None and len(bodies) >= disconnect_after:
            gone.set()

    await app(_scope(url, method, headers), receive, send)
    gone.set()
    return {
        "status": sent[0]["status"],
        "headers": dict(sent[0]["headers"]),
        "body": b"".join(m.get("body", b"") for m in sent[1:]),
        "messages": len(sent),
    }


def _bridge() -> WSGIBridge:
    return WSGIBridge(threads=2)


@pytest.mark.django_db(transaction=True)
def test_middleware_and_view_run_on_one_pool_thread() -> None:
    middleware = [*settings.MIDDLEWARE, f"{__name__}.RecordThread"]
    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=middleware):
        seen_threads.clear()
        answer = asyncio.run(_call(_bridge(), "/probe"))
    assert answer["status"] == 200 and answer["body"] == b"ok"
    assert len(seen_threads) == 3 and len(set(seen_threads)) == 1
    assert threading.get_ident() not in seen_threads  # not on the event loop's thread


@pytest.mark.django_db(transaction=True)
def test_request_finished_fires_in_the_request_thread() -> None:
    finished: list[int] = []

    def record(**kwargs: Any) -> None:
        finished.append(threading.get_ident())

    request_finished.connect(record)
    try:
        with override_settings(ROOT_URLCONF=__name__):
            seen_threads.clear()
            asyncio.run(_call(_bridge(), "/probe"))
    finally:
        request_finished.disconnect(record)
    # Django returns the thread's database connection on request_finished.
    assert finished == [seen_threads[0]]


@pytest.mark.django_db(transaction=True)
def test_body_headers_cookies_and_query_reach_django() -> None:
    headers = [
        (b"accept", b"text/html"),
        (b"accept", b"application/json"),
        (b"cookie", b"a=1"),
        (b"cookie", b"b=2"),
        (b"content-type", b"application/json"),
    ]
    with override_settings(ROOT_URLCONF=__name__):
        # A chunked body: no Content-Length header, several messages.
        answer = asyncio.run(
            _call(
                _bridge(),
                "/v1/echo?q=x%20y",
                method="POST",
                chunks=[b'{"a":', b" 1}"],
                headers=headers,
            )
        )
    assert answer["status"] == 200
    data = json.loads(answer["body"])
    assert data == {
        "body": '{"a": 1}',
        "accept": "text/html,application/json",
        "cookies": {"a": "1", "b": "2"},
        "path": "/v1/echo",
        "query": "x y",
        "remote": "10.1.2.3",
        "session": False,  # the API lane: no session machinery
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("url", "content_type"), [("/v1/echo", b"application/json"), ("/echo", b"text/plain")]
)
def test_a_body_over_the_limit_is_refused_without_keeping_it(url: str, content_type: bytes) -> None:
    limit = settings.KASSA_MAX_REQUEST_BYTES
    chunks = [b"x" * (limit // 2)] * 3
    with override_settings(ROOT_URLCONF=__name__):
        answer = asyncio.run(_call(_bridge(), url, method="POST", chunks=chunks))
    assert answer["status"] == 413
    assert answer["headers"][b"content-type"].startswith(content_type)
    if url.startswith("/v1/"):
        assert json.loads(answer["body"])["error"]["code"] == "request_too_large"


@pytest.mark.django_db(transaction=True)
def test_streaming_responses_are_written_chunk_by_chunk() -> None:
    with override_settings(ROOT_URLCONF=__name__):
        produced.clear()
        answer = asyncio.run(_call(_bridge(), "/stream"))
    assert answer["status"] == 200
    assert answer["body"] == b"".join(f"row {i}\n".encode() for i in range(1000))
    assert answer["messages"] == 1 + 1000 + 1  # start, one message per chunk, the end


@pytest.mark.django_db(transaction=True)
def test_a_client_that_goes_away_stops_a_stream() -> None:
    with override_settings(ROOT_URLCONF=__name__):
        produced.clear()
        asyncio.run(_call(_bridge(), "/stream", disconnect_after=10))
    assert 10 <= len(produced) < 1000


def test_environ_paths_are_latin1_wsgi_strings() -> None:
    environ = build_environ(_scope("/pay/ü"), b"")
    assert environ["PATH_INFO"] == "/pay/ü".encode().decode("latin-1")
    assert environ["CONTENT_LENGTH"] == "0"
    assert environ["SERVER_PORT"] == "8000"


_SECURITY_HEADERS = (
    b"x-content-type-options",
    b"referrer-policy",
    b"cross-origin-opener-policy",
    b"x-frame-options",
    b"content-security-policy",
)


@pytest.mark.django_db(transaction=True)
def test_the_api_lane_sends_the_security_headers_of_the_full_chain() -> None:
    with override_settings(ROOT_URLCONF=__name__):
        api = asyncio.run(_call(_bridge(), "/v1/echo"))
        page = asyncio.run(_call(_bridge(), "/echo"))
    assert api["status"] == page["status"] == 200
    for name in _SECURITY_HEADERS:
        assert api["headers"][name] == page["headers"][name], name
    assert json.loads(page["body"])["session"] is True  # pages keep the whole chain


def test_only_api_hook_and_probe_paths_take_the_api_lane() -> None:
    from kassa.platform.wsgi_bridge import API_PATHS

    assert "/v1/payments".startswith(API_PATHS)
    assert "/hooks/payme/gwa_x".startswith(API_PATHS)
    for page in ("/portal/", "/admin/", "/pay/abc", "/checkout/x", "/static/x.css"):
        assert not page.startswith(API_PATHS)


@pytest.mark.django_db(transaction=True)
def test_past_the_queue_limit_requests_are_answered_503_at_once() -> None:
    """One thread, two places in the queue: the fourth request and later are shed with 503
    and Retry-After while the first three wait their turn; the liveness probe is never shed."""
    bridge = WSGIBridge(threads=1, queue_limit=2)

    async def scenario() -> list[dict[str, Any]]:
        running = [asyncio.create_task(_call(bridge, "/v1/slow"))]
        assert await asyncio.to_thread(entered.wait, 10)  # the first one holds the thread
        running += [asyncio.create_task(_call(bridge, "/v1/slow")) for _ in range(2)]
        while bridge.waiting < 2:
            await asyncio.sleep(0.01)
        shed = [
            await _call(bridge, "/v1/slow"),
            await _call(bridge, "/slow-page"),
        ]
        probe = asyncio.create_task(_call(bridge, "/healthz"))
        await asyncio.sleep(0.05)
        assert not probe.done() and bridge.waiting == 3  # queued, not shed
        release.set()
        answered = [await task for task in [*running, probe]]
        return shed + answered

    release.clear()
    entered.clear()
    with override_settings(ROOT_URLCONF=__name__):
        answers = asyncio.run(scenario())
    api_busy, page_busy, *answered = answers
    assert api_busy["status"] == 503 and page_busy["status"] == 503
    assert api_busy["headers"][b"retry-after"] == b"1"
    assert json.loads(api_busy["body"])["error"]["code"] == "server_busy"
    assert page_busy["headers"][b"content-type"].startswith(b"text/plain")
    assert [a["status"] for a in answered] == [200, 200, 200, 200]
    assert bridge.shed == 2 and bridge.waiting == 0
