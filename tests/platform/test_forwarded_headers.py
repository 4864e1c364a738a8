"""Forwarding headers (X-Forwarded-For, X-Forwarded-Proto) are believed only from the proxies
in KASSA_TRUSTED_PROXIES / `kassa serve --trusted-proxies`: the client address they carry
becomes REMOTE_ADDR, which the pay pages' probe limit, the admin sign-in lockout and the audit
log count by."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from django.conf import settings as django_settings

from kassa.platform.webserver import config_options
from kassa.platform.wsgi_bridge import build_environ
from tests.asgi_server import database_url, free_port


def _remote_addr(trusted: tuple[str, ...], peer: str, headers: list[tuple[bytes, bytes]]) -> Any:
    """REMOTE_ADDR and the URL scheme Django would see for a request from `peer`, through the
    app uvicorn builds from `kassa serve`'s options (its proxy-header middleware included)."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        environ = build_environ(scope, b"")
        seen.update(addr=environ.get("REMOTE_ADDR"), scheme=environ["wsgi.url_scheme"])

    config = uvicorn.Config(app, **config_options("127.0.0.1", 8000, trusted))
    config.load()
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": headers,
        "client": (peer, 40000),
        "scheme": "http",
    }
    asyncio.run(config.loaded_app(scope, None, None))
    return seen["addr"], seen["scheme"]


FORWARDED = [(b"x-forwarded-for", b"198.51.100.7"), (b"x-forwarded-proto", b"https")]


def test_forwarding_headers_from_the_loopback_are_ignored_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # uvicorn's own default trusts 127.0.0.1, or whatever FORWARDED_ALLOW_IPS says.
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    assert _remote_addr((), "127.0.0.1", FORWARDED) == ("127.0.0.1", "http")
    assert _remote_addr((), "10.0.0.5", FORWARDED) == ("10.0.0.5", "http")


def test_forwarding_headers_are_believed_from_a_trusted_proxy_only() -> None:
    trusted = ("10.0.0.0/8",)
    assert _remote_addr(trusted, "10.0.0.5", FORWARDED) == ("198.51.100.7", "https")
    assert _remote_addr(trusted, "192.0.2.1", FORWARDED) == ("192.0.2.1", "http")
    # A client that sends its own X-Forwarded-For through the proxy gets the address the proxy
    # appended (the last one not trusted), not the one it chose.
    chained = [(b"x-forwarded-for", b"203.0.113.66, 198.51.100.7")]
    assert _remote_addr(trusted, "10.0.0.5", chained)[0] == "198.51.100.7"


# -- a real `kassa serve` ----------------------------------------------------------------------


def _start(tmp_path: Path, *extra: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASSA_")}
    env.update(
        KASSA_DATABASE_URL=database_url(django_settings),
        KASSA_SECRET_KEY=django_settings.SECRET_KEY,
        KASSA_PAY_PROBE_LIMIT="3",
        # uvicorn would trust every peer with this; `kassa serve` must not read it.
        FORWARDED_ALLOW_IPS="*",
    )
    log = (tmp_path / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "kassa", "serve", "--port", str(port), *extra],
        env=env,
        stdout=log,
        stderr=log,
    )
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # generous: a loaded CI machine starts slowly
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                return base, process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError((tmp_path / f"serve-{port}.log").read_text())
        time.sleep(0.2)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> str:
        base, process = _start(tmp_path, *extra)
        processes.append(process)
        return base

    try:
        yield start
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _probe(base: str, n: int, forwarded_for: str) -> int:
    return httpx.get(
        f"{base}/pay/{'z' * 60}{n:04d}", headers={"X-Forwarded-For": forwarded_for}, timeout=10
    ).status_code


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_kassa_serve_counts_probes_by_the_peer_when_no_proxy_is_trusted(serve: Any) -> None:
    base = serve()
    codes = [_probe(base, n, f"198.51.100.{n}") for n in range(5)]
    # Rotating the header does not make the prober someone else.
    assert codes == [404, 404, 404, 429, 429]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_kassa_serve_believes_the_proxies_it_is_told_to_trust(serve: Any) -> None:
    base = serve("--trusted-proxies", "127.0.0.1/32,::1")
    assert [_probe(base, n, f"198.51.100.{n}") for n in range(5)] == [404] * 5
    assert [_probe(base, n, "203.0.113.9") for n in range(5)] == [404, 404, 404, 429, 429]


def test_kassa_serve_refuses_a_malformed_trusted_proxies_option(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASSA_")}
    env.update(KASSA_DATA_DIR=str(tmp_path), KASSA_SECRET_KEY="x" * 50)
    result = subprocess.run(
        [sys.executable, "-m", "kassa", "serve", "--trusted-proxies", "my-proxy"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("kassa: --trusted-proxies must be comma-separated IP")
