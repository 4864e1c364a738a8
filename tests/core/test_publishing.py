"""kassa.core.publishing: how the layers below kassa.events publish events without importing it."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from kassa.core import publishing
from kassa.events.services import emit


def test_the_events_app_registers_its_emit() -> None:
    assert publishing._publisher is emit


@pytest.mark.django_db
def test_publish_hands_the_event_to_the_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(publishing, "_publisher", lambda *args: calls.append(args))
    with transaction.atomic():
        publishing.publish("org_x", "customer.created", {"id": "cus_x"})
    assert calls == [("org_x", "customer.created", {"id": "cus_x"})]


@pytest.mark.django_db
def test_publishing_without_a_publisher_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publishing, "_publisher", None)
    with (
        transaction.atomic(),
        pytest.raises(RuntimeError, match="no event publisher is registered"),
    ):
        publishing.publish("org_x", "customer.created", {"id": "cus_x"})


def test_publishing_outside_a_transaction_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    # The event would commit on its own, whether or not the change it reports did.
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(publishing, "_publisher", lambda *args: calls.append(args))
    with pytest.raises(RuntimeError, match="inside the transaction"):
        publishing.publish("org_x", "customer.created", {"id": "cus_x"})
    assert calls == []


def test_a_second_publisher_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publishing, "_publisher", emit)
    publishing.register_publisher(emit)  # the same one again, as a repeated ready() does
    with pytest.raises(RuntimeError, match="already registered"):
        publishing.register_publisher(lambda *args: None)
    assert publishing._publisher is emit
