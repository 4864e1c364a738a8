"""Twilio's Messages API on loopback: POST /2010-04-01/Accounts/{sid}/Messages.json with HTTP
Basic auth (Account SID, Auth Token) and form fields To, From or MessagingServiceSid, Body.
201 with the message resource; errors as Twilio sends them: {"code", "message", "more_info",
"status"} (20003 authenticate, 21211 invalid To, 21602 no Body, 21604 no From, 20429 too many
requests).

`sim.sent` holds accepted messages; numbers in `sim.invalid_numbers` get 21211 and those in
`sim.opted_out` get 21610 (the recipient replied STOP); `sim.fail_next` holds statuses to
answer with first."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.simulators.http import LoopbackServer, Reply, Request, json_reply

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token"
FROM = "+15005550006"


def _error(status: int, code: int, message: str) -> Reply:
    return json_reply(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


@dataclass
class TwilioSimulator:
    server: LoopbackServer | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    invalid_numbers: set[str] = field(default_factory=set)
    opted_out: set[str] = field(default_factory=set)
    fail_next: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def kassa_sms_url(self) -> str:
        host = self.url.removeprefix("http://")
        return f"twilio+http://{ACCOUNT_SID}:{AUTH_TOKEN}@{host}?from=%2B{FROM[1:]}"

    def handle(self, request: Request) -> Reply:
        match = re.fullmatch(r"/2010-04-01/Accounts/(\w+)/Messages\.json", request.path)
        if request.method != "POST" or match is None:
            return _error(404, 20404, "The requested resource was not found")
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.header("Authorization") != f"Basic {expected}" or match[1] != ACCOUNT_SID:
            return _error(401, 20003, "Authenticate")
        if self.fail_next:
            status = self.fail_next.pop(0)
            return _error(status, 20429 if status == 429 else 20500, "Service unavailable")
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        to, body = form.get("To", ""), form.get("Body", "")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return _error(400, 21604, "A 'From' phone number is required.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if not re.fullmatch(r"\+[1-9]\d{6,14}", to) or to in self.invalid_numbers:
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in self.opted_out:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        sid = "SM" + secrets.token_hex(16)
        message = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": to,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": body,
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
        }
        self.sent.append(message)
        return json_reply(201, message)


@pytest.fixture
def twilio() -> Iterator[TwilioSimulator]:
    sim = TwilioSimulator()
    sim.server = LoopbackServer(sim.handle).start()
    try:
        yield sim
    finally:
        sim.server.stop()
