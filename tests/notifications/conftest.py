"""Notification types backed by templates in tests/notifications/templates."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from kassa.notifications.services import register_type
from tests.simulators.callback_receiver import receiver
from tests.simulators.eskiz import eskiz
from tests.simulators.push_service import push_service
from tests.simulators.twilio import twilio

__all__ = ["eskiz", "push_service", "receiver", "twilio"]

TEMPLATES_DIR = Path(__file__).parent / "templates"


@pytest.fixture(autouse=True)
def test_types() -> Iterator[None]:
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], TEMPLATES_DIR]
    register_type(
        "test.receipt",
        label="Receipt",
        template="testapp/receipt",
        channels=("email",),
        sample={"amount": "12.00 UZS"},
    )
    register_type(
        "test.reminder",
        label="Reminder",
        template="testapp/receipt",
        channels=("email", "sms", "push", "webhook"),
    )
    register_type(
        "test.alert",
        label="Alert",
        template="testapp/alert",
        audience="staff",
    )
    with override_settings(TEMPLATES=templates):
        yield
