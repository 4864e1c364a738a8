"""`kassa serve` on the embedded default: one process group that starts and stops as one;
`kassa serve --dev` (what `./dev run` runs) on another port."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.events.receiver import Receiver

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/task").exists(), reason="reads child processes from Linux's /proc"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "children").read_text().split()
        except FileNotFoundError:
            continue  # a thread that ended while we looked has no children to report
        found.update(int(child) for child in text)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    # Generous: start-up applies every migration on a fresh SQLite file, which takes long on a
    # loaded CI machine; this only guards against a hang.
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, "kassa serve exited during start-up"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("kassa serve did not answer /healthz within 240 s")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_worker_and_scheduler_with_it(tmp_path: Path, signum: int) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASSA_")}
    env.update(KASSA_DATA_DIR=str(tmp_path / "data"), KASSA_SECRET_KEY="x" * 50)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kassa", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children: set[int] = set()
    try:
        _wait_healthy(port, proc)
        children = _children(proc.pid)
        assert len(children) >= 2, "the worker and the scheduler should run beside the server"
        proc.send_signal(signum)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while any(_alive(child) for child in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [child for child in children if _alive(child)], "children outlived serve"
    finally:
        for pid in [*children, proc.pid]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _web_workers(pid: int) -> set[int]:
    """The spawned uvicorn worker processes among `pid`'s children."""
    found = set()
    for child in _children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"multiprocessing" in cmdline:
            found.add(child)
    return found


def test_serve_with_workers_restarts_a_dead_worker_and_stops_them_all(tmp_path: Path) -> None:
    """`--workers 2`: two uvicorn processes started through uvicorn's public API, each on its
    own SO_REUSEPORT socket; one killed is started again; SIGTERM stops everything."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASSA_")}
    env.update(KASSA_DATA_DIR=str(tmp_path / "data"), KASSA_SECRET_KEY="x" * 50)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kassa", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: set[int] = set()
    try:
        _wait_healthy(port, proc)
        deadline = time.monotonic() + 60
        while len(workers := _web_workers(proc.pid)) < 2:
            assert time.monotonic() < deadline, "two web workers did not start"
            time.sleep(0.2)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            current = _web_workers(proc.pid)
            if victim not in current and len(current) == 2:
                break
            assert time.monotonic() < deadline, "the killed worker was not started again"
            time.sleep(0.2)
        _wait_healthy(port, proc)
        workers = current
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)], "web workers outlived serve"
    finally:
        for pid in [*workers, *_children(proc.pid), proc.pid] if _alive(proc.pid) else workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


class _Output:
    """Collects a process's output lines as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        assert proc.stdout is not None
        stream = proc.stdout

        def read() -> None:
            for line in stream:
                with self._lock:
                    self.lines.append(line.rstrip("\n"))

        threading.Thread(target=read, daemon=True).start()

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text(), re.MULTILINE)
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} did not appear in:\n{self.text()}")


def _api(base: str, key: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else b"" if method == "POST" else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_dev_server_on_another_port_links_emails_and_local_webhooks(tmp_path: Path) -> None:
    """`kassa serve --dev --port P` (what `./dev run --port P` runs): the demo summary, API
    answers and the emails the worker prints all point at port P; the emails are readable;
    a webhook receiver on this machine gets its events."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASSA_")}
    env.update(KASSA_DATA_DIR=str(tmp_path / "data"), KASSA_SECRET_KEY="x" * 50)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kassa", "serve", "--dev", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = _Output(proc)
    receiver = Receiver().start()
    children: set[int] = set()
    try:
        _wait_healthy(port, proc)
        children = _children(proc.pid)
        summary = output.wait_for(r"Kassa is serving .*")
        assert summary.group(0).startswith(f"Kassa is serving {base} ")
        text = output.text()
        assert f"{base}/admin/" in text and f"{base}/v1/docs" in text
        assert f"{base}/portal/sign-in" in text and "allowed" in text
        pay_link = output.wait_for(rf"^\s+Pay a booking\s+({re.escape(base)}/pay/\S+)$").group(1)
        key = output.wait_for(r"API key (sk_test_\w+)").group(1)
        with urllib.request.urlopen(pay_link, timeout=30) as page:
            assert page.status == 200

        payment = _api(base, key, "POST", "/v1/payments", {"amount": 150000, "currency": "UZS"})
        assert payment["checkout_url"].startswith(f"{base}/checkout/")
        account = _api(base, key, "GET", "/v1/gateway_accounts")["data"][0]
        assert account["callback_urls"]["webhook"].startswith(f"{base}/hooks/sandbox/")

        # An email, printed by the worker: the balance reminder with the pay link.
        booking = _api(base, key, "GET", "/v1/bookings")["data"][0]
        _api(base, key, "POST", f"/v1/bookings/{booking['id']}/reminders")
        link = output.wait_for(rf"^Links? in this email:\n({re.escape(base)}/pay/\S+)$").group(1)
        email_start = output.text().rindex("\nTo: dilnoza@example.com")
        email = output.text()[email_start:]
        assert f"\n{link}\n" in email and "=\n" not in email and "=D0" not in email
        with urllib.request.urlopen(link, timeout=30) as page:
            assert page.status == 200

        # A webhook to a receiver on this machine.
        endpoint = _api(
            base,
            key,
            "POST",
            "/v1/webhook_endpoints",
            {"url": receiver.url, "enabled_events": ["*"]},
        )
        receiver.secrets.append(endpoint["secret"])
        _api(base, key, "POST", f"/v1/webhook_endpoints/{endpoint['id']}/test")
        deadline = time.monotonic() + 60
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [r.event["type"] for r in receiver.received] == ["ping"]
        assert receiver.all_verified()
        assert ":8000" not in output.text()
    finally:
        receiver.stop()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            for pid in [*children, proc.pid]:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
