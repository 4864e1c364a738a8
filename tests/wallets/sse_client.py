"""A small Server-Sent Events reader over httpx for tests and the benchmark's checks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Message:
    event: str = "message"
    id: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.data)


class SseStream:
    """Open with `with SseStream(url, headers) as stream:`; `next()` returns the next event or
    comment block (a heartbeat is a Message with event "comment")."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout: float = 20):
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=10))
        self.request = self.client.build_request("GET", url, headers=headers or {})
        self.response: httpx.Response | None = None
        self._lines: Iterator[str] | None = None

    def __enter__(self) -> SseStream:
        self.response = self.client.send(self.request, stream=True)
        if self.response.status_code == 200:
            self._lines = self.response.iter_lines()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.response is not None:
            self.response.close()
        self.client.close()

    @property
    def status_code(self) -> int:
        assert self.response is not None
        return self.response.status_code

    def error(self) -> dict[str, Any]:
        assert self.response is not None
        self.response.read()
        body: dict[str, Any] = self.response.json()
        return body

    def next(self) -> Message:
        assert self._lines is not None, "the stream was not opened with 200"
        message = Message()
        seen = False
        for line in self._lines:
            if line == "":
                if seen:
                    if message.comments and not message.data and message.event == "message":
                        message.event = "comment"
                    return message
                continue
            seen = True
            if line.startswith(":"):
                message.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                message.event = value
            elif name == "id":
                message.id = value
            elif name == "data":
                message.data = f"{message.data}\n{value}" if message.data else value
            elif name == "retry":
                message.event = "retry" if message.event == "message" else message.event
                message.data = value
        raise EOFError("the stream ended")

    def next_event(self, kind: str = "balance", within: float = 60) -> Message:
        """The next event of this kind, skipping heartbeats and the retry hint. Heartbeats
        keep the connection's read timeout from firing, so a missing event fails here after
        `within` seconds instead of hanging the run."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            message = self.next()
            if message.event == kind:
                return message
        raise AssertionError(f"no {kind!r} event within {within} s")
