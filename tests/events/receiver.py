"""A webhook receiver on loopback: records every request, verifies each with the
`standardwebhooks` library against the secrets it knows, and answers what the test scripts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    # For each known secret, whether the delivery verified with it.
    verified: dict[str, bool]

    @property
    def event(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.body)
        return result


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


class Receiver:
    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.received: list[Received] = []
        self.replies: list[Reply] = []  # consumed in order; then `default`
        self.default = Reply()
        self.on_request: Callable[[Received], None] | None = None
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = {}
                for secret in list(receiver.secrets):
                    try:
                        Webhook(secret).verify(body, headers)
                        verified[secret] = True
                    except WebhookVerificationError:
                        verified[secret] = False
                item = Received(headers=headers, body=body, verified=verified)
                with receiver._lock:
                    receiver.received.append(item)
                    reply = receiver.replies.pop(0) if receiver.replies else receiver.default
                if receiver.on_request:
                    receiver.on_request(item)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up (timeout) or was killed

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def all_verified(self) -> bool:
        """Every request verified with at least one known secret."""
        return all(any(r.verified.values()) for r in self.received)
