"""What the HTTP benchmarks share: a fresh PostgreSQL database with an organization, `kassa
serve` on it, pgbench on the same database for scale, the CPU that each side used, and
percentiles.

CPU is counted from /proc (user + system time) for the Kassa server processes, the PostgreSQL
backends of the bench database and the benchmark's own process: on a shared 2-core machine the
rate alone depends on what else runs, while CPU per request says what a request costs.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def connect(url: str, *, dbname: str | None = None, autocommit: bool = True) -> Any:
    """A psycopg connection to the server of `url`, to its database or to `dbname`."""
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or None,
        dbname=dbname or database_name(url),
        autocommit=autocommit,
    )


def admin_connect(url: str) -> Any:
    return connect(url, dbname="postgres")


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def create_database(url: str) -> None:
    name = database_name(url)
    with admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    with admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')


def analyze(url: str) -> None:
    """ANALYZE the bench database, after the warm-up and before the measured run.

    A fresh database's statistics say every table is empty, and plans prepared against them
    (Kassa prepares its hot statements once per connection) scan tables that then grow for the
    whole run: the Payme benchmark's transaction look-up read 2 million rows in 2,000 calls. A
    running installation has its tables analyzed by autovacuum, within a minute of such growth
    (autovacuum_naptime), which also makes PostgreSQL plan the prepared statements again; a
    benchmark run is shorter than that, so it analyzes once itself."""
    with connect(url) as conn:
        conn.execute("ANALYZE")


def setup(url: str) -> dict[str, str]:
    """A fresh database, migrated, with one organization; returns `kassa org create --json`."""
    create_database(url)
    env = {**os.environ, "KASSA_DATABASE_URL": url}
    kassa = [sys.executable, "-m", "kassa"]
    subprocess.run([*kassa, "migrate"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [*kassa, "org", "create", "--name", "Bench", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(created.stdout))


def ensure_port_free(port: int) -> None:
    """Stop when something already listens on `port` (another benchmark's server): this
    benchmark would measure that server, and its set-up would drop that server's database.
    Called before the set-up."""
    import socket

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} is in use (another benchmark running?); use --port")


class KassaServer:
    """`kassa serve` on the bench database, its output discarded."""

    def __init__(
        self,
        url: str,
        port: int,
        *,
        workers: int = 2,
        threads: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self.base = f"http://127.0.0.1:{port}"
        environment = {
            **os.environ,
            "KASSA_DATABASE_URL": url,
            "KASSA_BASE_URL": self.base,
            **(env or {}),
        }
        if threads:
            environment["KASSA_WEB_THREADS"] = str(threads)
        command = [sys.executable, "-m", "kassa", "serve", "--port", str(port)]
        self.process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("kassa serve exited before it answered")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit("kassa serve did not become ready")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> KassaServer:
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- CPU ------------------------------------------------------------------------------------


def _cpu_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes(match: Callable[[int, int, str], bool]) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if match(int(entry), ppid, command):
            pids.append(int(entry))
    return pids


class CpuMeter:
    """CPU seconds used between `start` and `stop` by the server (the supervisor and its
    workers), the bench database's PostgreSQL backends, and this process."""

    def __init__(self, server: KassaServer) -> None:
        self.server_pid = server.process.pid
        self.database = database_name(server.url)

    def _snapshot(self) -> dict[str, dict[int, float]]:
        root = self.server_pid
        server = _processes(lambda pid, ppid, cmd: pid == root or ppid == root)
        database = self.database
        backends = _processes(
            lambda pid, ppid, cmd: cmd.startswith("postgres:") and database in cmd
        )
        return {
            "kassa": {pid: _cpu_of(pid) for pid in server},
            "postgres": {pid: _cpu_of(pid) for pid in backends},
        }

    def start(self) -> None:
        self.before = self._snapshot()
        self.client_before = time.process_time()

    def stop(self) -> dict[str, float]:
        after = self._snapshot()
        used = {
            part: sum(after[part][pid] - self.before[part].get(pid, 0.0) for pid in after[part])
            for part in after
        }
        used["bench_client"] = time.process_time() - self.client_before
        return used


def per_request_ms(cpu: dict[str, float], requests: int) -> dict[str, float]:
    return {part: round(seconds * 1000 / max(requests, 1), 3) for part, seconds in cpu.items()}


# -- scale and statistics -------------------------------------------------------------------


def pgbench(url: str, clients: int, seconds: int) -> float:
    """pgbench's TPC-B on the bench database: what raw PostgreSQL transactions reach now."""
    parts = urlsplit(url)
    args = [
        *("-h", parts.hostname or "127.0.0.1"),
        *("-p", str(parts.port or 5432)),
        *("-U", parts.username or "postgres"),
    ]
    name = database_name(url)
    subprocess.run(["pgbench", *args, "-i", "-s", "1", "-q", name], check=True, capture_output=True)
    result = subprocess.run(
        ["pgbench", *args, "-c", str(clients), "-j", "2", "-T", str(seconds), name],
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r"tps = ([\d.]+)", result.stdout)
    return float(match.group(1)) if match else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_summary(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
    }


def fastpath_mode() -> str:
    """Which database mode Kassa runs in for this benchmark (KASSA_DB_FASTPATH reaches the
    servers it starts through the environment)."""
    off = os.environ.get("KASSA_DB_FASTPATH", "1").strip().lower() in ("0", "false", "no", "off")
    return "off (stock Django and psycopg)" if off else "on"


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "db_fastpath": fastpath_mode(),
    }


async def run_clients(count: int, client: Callable[[int], Awaitable[None]]) -> float:
    """Run `count` client coroutines (given their index) to the end; returns the seconds."""
    started = time.perf_counter()
    await asyncio.gather(*(client(index) for index in range(count)))
    return time.perf_counter() - started


def django_setup(url: str) -> None:
    os.environ["KASSA_DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kassa.settings")
    sys.path.insert(0, ROOT)
    import django

    django.setup()


def close_django() -> None:
    """Close this process's database connections (and the hot-cache listener's), so the bench
    database can be dropped."""
    from django.db import connections

    from kassa.platform import hotcache

    hotcache.stop_listener()
    for conn in connections.all(initialized_only=True):
        conn.close()
        close_pool = getattr(conn, "close_pool", None)
        if close_pool is not None:
            close_pool()


def uvloop_run(coro: Awaitable[Any]) -> Any:
    import uvloop

    return uvloop.run(coro)  # type: ignore[arg-type]
