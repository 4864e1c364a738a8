"""Eskiz.uz's SMS API on loopback (notify.eskiz.uz): /api/auth/login gives a bearer token for
the right email and password; /api/message/sms/send takes mobile_phone (998XXXXXXXXX),
message and from as form fields and answers {"id", "message", "status": "waiting"}.

`sim.sent` holds accepted messages; `sim.expire_tokens()` makes issued tokens answer 401 (as
after 30 days); numbers in `sim.invalid_numbers` are refused like a number Eskiz cannot
deliver to; `sim.fail_next` holds statuses to answer with before any check (500, 429...)."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import pytest

from tests.simulators.http import LoopbackServer, Reply, Request, json_reply

EMAIL = "merchant@example.com"
PASSWORD = "eskiz-secret"
NICKNAME = "4546"


@dataclass
class EskizSimulator:
    server: LoopbackServer | None = None
    tokens: set[str] = field(default_factory=set)
    logins: int = 0
    sent: list[dict[str, str]] = field(default_factory=list)
    invalid_numbers: set[str] = field(default_factory=set)
    fail_next: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def kassa_sms_url(self, sender: str = NICKNAME) -> str:
        host = self.url.removeprefix("http://")
        return f"eskiz+http://{EMAIL.replace('@', '%40')}:{PASSWORD}@{host}?from={sender}"

    def expire_tokens(self) -> None:
        self.tokens.clear()

    @staticmethod
    def _form(request: Request) -> dict[str, str]:
        assert request.header("Content-Type").startswith("application/x-www-form-urlencoded")
        return {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}

    def handle(self, request: Request) -> Reply:
        if self.fail_next:
            return json_reply(self.fail_next.pop(0), {"message": "Server error", "status": "error"})
        if request.method == "POST" and request.path == "/api/auth/login":
            form = self._form(request)
            if form.get("email") != EMAIL or form.get("password") != PASSWORD:
                return json_reply(401, {"message": "Invalid credentials", "status": "error"})
            self.logins += 1
            token = secrets.token_urlsafe(24)
            self.tokens.add(token)
            return json_reply(
                200,
                {"message": "token_generated", "data": {"token": token}, "token_type": "bearer"},
            )
        if request.method == "POST" and request.path == "/api/message/sms/send":
            auth = request.header("Authorization")
            if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
                return json_reply(401, {"message": "Expired", "status": "token-invalid"})
            form = self._form(request)
            phone, text, sender = (
                form.get("mobile_phone", ""),
                form.get("message", ""),
                form.get("from", ""),
            )
            if not re.fullmatch(r"998\d{9}", phone) or phone in self.invalid_numbers:
                return json_reply(
                    400, {"message": "Invalid mobile_phone: " + phone, "status": "error"}
                )
            if not text:
                return json_reply(400, {"message": "Message is empty", "status": "error"})
            if sender != NICKNAME:
                return json_reply(400, {"message": "Nickname not allowed", "status": "error"})
            message_id = str(uuid.uuid4())
            self.sent.append(
                {"id": message_id, "mobile_phone": phone, "message": text, "from": sender}
            )
            return json_reply(
                200, {"id": message_id, "message": "Waiting for SMS provider", "status": "waiting"}
            )
        return json_reply(404, {"message": "Not found", "status": "error"})


@pytest.fixture
def eskiz() -> Iterator[EskizSimulator]:
    sim = EskizSimulator()
    sim.server = LoopbackServer(sim.handle).start()
    try:
        yield sim
    finally:
        sim.server.stop()
