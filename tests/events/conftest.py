"""Fixtures for events and webhooks: a loopback receiver (private addresses allowed for it)
and helpers to create endpoints through the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from tests.conftest import ApiClient
from tests.events.receiver import Receiver


@pytest.fixture(autouse=True)
def _allow_loopback() -> Iterator[None]:
    with override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=True):
        yield


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


def create_endpoint(
    api: ApiClient, receiver: Receiver, events: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    body = {"url": receiver.url, "enabled_events": events or ["*"], **extra}
    response = api.post("/v1/webhook_endpoints", body)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    receiver.secrets.append(body["secret"])
    return body
