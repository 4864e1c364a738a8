"""A real SMTP server for tests: the `smtp` fixture.

An aiosmtpd server on a free loopback port, with Django's mailer pointed at it for the test.
`smtp.messages` holds every received message as an `email.message.EmailMessage`;
`smtp.wait_for(n)` waits until n have arrived. Addresses listed in `smtp.reject` are refused
with 550 (a bounce) and those in `smtp.defer` with 451 (try again later)."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpServer:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.reject: set[str] = set()
        self.defer: set[str] = set()
        self._arrived = threading.Condition()
        self.port = 0

    # aiosmtpd handler hooks
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.lower() in self.reject:
            return "550 5.1.1 No such user here"
        if address.lower() in self.defer:
            return "451 4.3.0 Mailbox temporarily unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._arrived:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 5) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} emails within {timeout}s, got {len(self.messages)}"
                    )
                self._arrived.wait(left)
        return self.messages[:count]


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML parts of a received message."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None, "expected a text and an HTML part"
    return str(text.get_content()), str(html.get_content())


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.port = _free_port()
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    mailers = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": server.port, "timeout": 5},
        }
    }
    try:
        with override_settings(MAILERS=mailers):
            yield server
    finally:
        controller.stop()
