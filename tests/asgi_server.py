"""Kassa's real ASGI application (Django behind the SSE stream app) served by uvicorn for a
test: in a thread of the test process (`asgi_server` fixture; the test's database must be
committed, so use `django_db(transaction=True)`), or as separate processes
(`start_server_process`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest


def database_url(settings: Any) -> str:
    """The test database as a KASSA_DATABASE_URL, for other processes."""
    db = settings.DATABASES["default"]
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    return (
        f"postgresql://{quote(db['USER'])}{password}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    def __init__(self) -> None:
        import uvicorn

        from kassa.asgi import application

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=self.port,
            lifespan="on",
            log_level="warning",
            loop="asyncio",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        # The server's threads returned their connections to the process's pool, which keeps
        # them open; close it so that the test database can be dropped at the end.
        from django.db import connection

        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            connection.close()
            connection.close_pool()  # type: ignore[attr-defined]


@pytest.fixture(name="asgi_server")
def asgi_server_fixture() -> Iterator[ServerThread]:
    server = ServerThread()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def start_server_process(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """`uvicorn kassa.asgi:application` in its own process; returns once it answers."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "kassa.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "on",
            "--log-level",
            "warning",
            "--timeout-graceful-shutdown",
            "1",
        ],
        env={**os.environ, **env},
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server process on port {port} did not start")
        time.sleep(0.2)


def stop_process(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
