"""A real `kassa serve` on PostgreSQL under the requests that once hung it: a NUL character in
a payment's or a wallet charge's description. Every request gets an answer, the server keeps
answering everyone else (its four request threads were all stuck after four such requests),
later charges of the same wallet go through, and SIGTERM still stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings

from kassa.core.actors import Actor
from kassa.core.services import create_api_key
from kassa.payments.accounts import create_gateway_account
from kassa.wallets import services as wallets
from tests.asgi_server import database_url, free_port
from tests.conftest import make_org

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(tmp_path: Any) -> Any:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASSA_")}
    env.update(
        KASSA_DATABASE_URL=database_url(django_settings),
        KASSA_SECRET_KEY=django_settings.SECRET_KEY,
        KASSA_WEB_THREADS="4",
        KASSA_DATABASE_TIMEOUT="10",
    )
    # The log goes to a file: a pipe nobody reads fills up with the errors' tracebacks and
    # then blocks the request threads that write to it.
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "kassa", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # generous: a loaded CI machine starts slowly
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "kassa serve did not start"
            time.sleep(0.2)
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()


def test_nul_in_descriptions_gets_answers_and_hangs_nothing(server: Any) -> None:
    base, process = server
    org = make_org(currency="EUR")
    create_gateway_account(
        org,
        provider="sandbox",
        test_mode=True,
        credentials={},
        name="Sandbox",
        currencies=["EUR"],
        is_default=True,
        actor=Actor.system("test"),
    )
    key = create_api_key(org, actor=Actor.system("test"), mode="test").secret
    headers = {"Authorization": f"Bearer {key}"}
    # Timeouts are generous: they only turn a hang into a failure on a loaded machine.
    http = httpx.Client(base_url=base, headers=headers, timeout=60)
    customer = http.post("/v1/customers", json={"name": "Ada"}).json()
    wallet = wallets.create_wallet(org, customer_id=customer["id"], currency="EUR")
    wallets.adjust(
        wallets.get_wallet(org, wallet.id), amount=10_000, reason="funding", actor=Actor.system("t")
    )

    def hostile(n: int) -> int:
        path, body = (
            ("/v1/payments", {"amount": 100, "currency": "EUR", "description": "x\u0000y"})
            if n % 2
            else (f"/v1/wallets/{wallet.id}/charges", {"amount": 10, "description": "x\u0000y"})
        )
        return http.post(path, json=body).status_code

    # More hostile requests than the server has request threads, all at once.
    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(hostile, range(12)))
    assert all(400 <= status < 600 for status in statuses), statuses

    assert http.get("/healthz").status_code == 200
    ok = http.post("/v1/payments", json={"amount": 100, "currency": "EUR"})
    assert ok.status_code == 200, ok.text
    charge = http.post(f"/v1/wallets/{wallet.id}/charges", json={"amount": 25})
    assert charge.status_code == 200, charge.text
    assert http.get(f"/v1/wallets/{wallet.id}").json()["balance"] == 9_975
    http.close()

    process.send_signal(signal.SIGTERM)
    assert process.wait(30) is not None
