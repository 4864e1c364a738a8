"""scripts/webhook_receiver.py, the receiver docs/test-mode.md starts on your own machine: it
gets Kassa's deliveries, checks their signatures with the endpoint's secret and answers 200,
and answers 401 (so Kassa retries) when the secret does not match."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kassa.events.dispatcher import deliver_due
from kassa.events.models import WebhookAttempt
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "webhook_receiver.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(port: int, secret: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", str(port), "--secret", secret],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith(f"Listening on http://127.0.0.1:{port}/")
    return proc


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    return out


@pytest.mark.parametrize("right_secret", [True, False])
def test_the_receiver_script_checks_signatures_and_prints_the_event(
    api: ApiClient, right_secret: bool
) -> None:
    port = _free_port()
    created = api.post(
        "/v1/webhook_endpoints",
        {"url": f"http://127.0.0.1:{port}/kassa", "enabled_events": ["*"]},
    ).json()
    secret = created["secret"] if right_secret else "whsec_" + "A" * 32
    proc = _start(port, secret)
    try:
        assert api.post(f"/v1/webhook_endpoints/{created['id']}/test").status_code == 200
        deadline = time.monotonic() + 30
        while not WebhookAttempt.objects.exists() and time.monotonic() < deadline:
            deliver_due()
    finally:
        output = _stop(proc)
    attempt = WebhookAttempt.objects.get()
    if right_secret:
        assert attempt.status_code == 200
        assert "POST /kassa: ping evt_" in output and "signature valid" in output
        assert f'"id": "{created["id"]}"' in output
    else:
        assert attempt.status_code == 401
        assert "signature INVALID" in output
