"""Requests through the ASGI application run Django's middleware as one synchronous chain."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import path

from kassa.asgi import django_application
from kassa.core.asgi_handler import SyncChainASGIHandler

seen_threads: list[int] = []


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


urlpatterns = [path("probe", view)]


async def _get(app: Any, url: str) -> dict[str, Any]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": url,
        "raw_path": url.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return {"status": sent[0]["status"], "body": b"".join(m.get("body", b"") for m in sent[1:])}


def test_the_middleware_chain_is_entered_once() -> None:
    assert isinstance(django_application._middleware_chain, SyncToAsync)


@pytest.mark.django_db(transaction=True)
def test_middleware_and_view_run_on_one_thread() -> None:
    middleware = [*settings.MIDDLEWARE, f"{__name__}.RecordThread"]
    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=middleware):
        app = SyncChainASGIHandler()
        seen_threads.clear()
        answer = asyncio.run(_get(app, "/probe"))
    assert answer == {"status": 200, "body": b"ok"}
    assert len(seen_threads) == 3 and len(set(seen_threads)) == 1
    assert threading.get_ident() not in seen_threads  # not on the event loop's thread
