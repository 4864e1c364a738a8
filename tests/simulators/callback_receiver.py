"""A customer's callback on loopback that verifies every request with the `standardwebhooks`
library (as the customer's own code would) before accepting it.

`receiver.secret` must be set to the whsec_ secret Kassa returned; `receiver.verified` holds
(headers, payload) of every request whose signature verified and `receiver.unverified` the
rest; `receiver.answers` holds (status, headers) to answer with first (410, 503...)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tests.simulators.http import LoopbackServer, Reply, Request


@dataclass
class CallbackReceiver:
    server: LoopbackServer | None = None
    secret: str = ""
    verified: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    unverified: list[tuple[dict[str, str], str]] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"{self.server.url}/hooks/kassa"

    def handle(self, request: Request) -> Reply:
        try:
            payload = Webhook(self.secret).verify(request.body, request.headers)
        except WebhookVerificationError as exc:
            self.unverified.append((request.headers, str(exc)))
            return 400, {}, b"bad signature"
        if self.answers:
            status, headers = self.answers.pop(0)
            return status, headers, b"not now"
        self.verified.append((request.headers, payload))
        return 204, {}, b""


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    sim = CallbackReceiver()
    sim.server = LoopbackServer(sim.handle).start()
    try:
        yield sim
    finally:
        sim.server.stop()
