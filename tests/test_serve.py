"""`kassa serve` on the embedded default: one process group that starts and stops as one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

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
