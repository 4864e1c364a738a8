"""Live balance streams: many concurrent SSE connections on ONE server process.

    .venv/bin/python bench/sse.py [--streams 10000] [--wallets 100] [--rounds 5]
                                  [--client-processes 2] [--rate 20]

Creates (and drops) its own PostgreSQL database, starts one uvicorn process serving
kassa.asgi, opens `--streams` streams (`GET /v1/wallets/{id}/stream`, spread evenly over
`--wallets` wallets) from `--client-processes` client processes (raw asyncio sockets), then
charges every wallet once per round (`--rate` changes a second, each fanned out to its
wallet's streams: 20 a second with 100 streams a wallet is 2,000 deliveries a second)
through the wallet service in the benchmark's own process: the commit's NOTIFY reaches the
server through its LISTEN connection, exactly as a change made on another node does, and the
server fans it out to the wallet's streams.

Delivery latency is measured per stream and charge from the moment the charge had committed
(the service call returned) to the moment a client process read the event; all processes use
CLOCK_MONOTONIC, which a machine's processes share. Two upper bounds are reported too: from
the start of the call, and from the ledger entry's timestamp. Memory per connection is the
server process's RSS growth while the streams were opened, divided by their number.
Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from _server import connect, ensure_port_free, fastpath_mode
from ledger import _admin_connect

CHARGE = 100  # minor units per charge: a wallet's balance after round r is -CHARGE * r


def raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 0.5), 1),
        "p99": round(percentile(values, 0.99), 1),
        "max": round(max(values, default=0), 1),
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# -- the client processes -------------------------------------------------------------------


async def _stream(
    host: str,
    port: int,
    key: str,
    wallet: str,
    events: list[tuple[str, int, float, int, float]],
    ready: list[int],
    gate: asyncio.Semaphore,
) -> None:
    async with gate:
        reader, writer = await asyncio.open_connection(host, port, limit=2**16)
        writer.write(
            (
                f"GET /v1/wallets/{wallet}/stream HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"stream refused: {head[:200]!r}")
        # The first state: the stream is live from here on.
        while True:
            line = await reader.readline()
            if line.startswith(b"data: "):
                break
        ready[0] += 1
    while True:
        line = await reader.readline()
        if not line:
            return
        if line.startswith(b"data: "):
            received, wall = time.monotonic(), time.time()
            data = json.loads(line[6:])
            events.append((wallet, int(data["balance"]), received, int(data["sequence"]), wall))


async def client_main(args: argparse.Namespace) -> None:
    raise_fd_limit()
    wallets = Path(args.client_wallets).read_text().split(",")
    events: list[tuple[str, int, float, int, float]] = []
    ready = [0]
    gate = asyncio.Semaphore(100)
    tasks = [
        asyncio.ensure_future(
            _stream("127.0.0.1", args.port, args.key, wallet, events, ready, gate)
        )
        for wallet in wallets
    ]
    while ready[0] < len(wallets):
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
        await asyncio.sleep(0.2)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), stop.set)
    await stop.wait()
    Path(args.out).write_text(json.dumps(events))
    for task in tasks:
        task.cancel()
    print("done", flush=True)


# -- the coordinator ------------------------------------------------------------------------


def setup(url: str) -> dict[str, str]:
    name = urlsplit(url).path.lstrip("/")
    with _admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "KASSA_DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "kassa", "migrate"], env=env, check=True, capture_output=True
    )
    created = subprocess.run(
        [sys.executable, "-m", "kassa", "org", "create", "--name", "Bench", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    org: dict[str, str] = json.loads(created.stdout)
    return org


def entry_times(url: str, ids: set[int]) -> dict[int, float]:
    """{ledger entry id: its created_at as a Unix time}."""
    with connect(url, autocommit=False) as conn:
        rows = conn.execute(
            "SELECT id, extract(epoch FROM created_at) FROM ledger_entry WHERE id = ANY(%s)",
            [sorted(ids)],
        ).fetchall()
    return {int(pk): float(epoch) for pk, epoch in rows}


def make_wallets(base: str, key: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        settings = http.put("/v1/wallet_settings/EUR", json={"credit_limit": 10**12})
        settings.raise_for_status()
        wallets = []
        for n in range(count):
            customer = http.post("/v1/customers", json={"email": f"c{n}@example.com"}).json()
            wallet = http.post("/v1/wallets", json={"customer": customer["id"], "currency": "EUR"})
            wallet.raise_for_status()
            wallets.append(wallet.json()["id"])
    return wallets


def charge_round(wallets: list[Any], round_no: int, rate: float) -> dict[str, tuple[float, float]]:
    """Charge every wallet once through the wallet service, in this process: the commit's
    NOTIFY reaches the server process through LISTEN, as a change made on another node
    would. {wallet: (before the call, after it returned)} in monotonic seconds; the commit
    and the NOTIFY happen in between."""
    from kassa.wallets import services

    times: dict[str, tuple[float, float]] = {}
    start = time.monotonic()
    for n, wallet in enumerate(wallets):
        # Paced: `rate` changes a second, each fanned out to its wallet's streams.
        pause = start + n / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        before = time.monotonic()
        services.charge(
            wallet, amount=CHARGE, description="bench", idempotency_key=f"b{round_no}-{wallet.id}"
        )
        times[wallet.id] = (before, time.monotonic())
    return times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--wallets", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20, help="balance changes per second")
    parser.add_argument("--port", type=int, default=8612)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "KASSA_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/kassa_bench_sse"
        ),
    )
    # Internal: a client process (a file with the wallet of each of its streams).
    parser.add_argument("--client-wallets", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_wallets:
        with contextlib.suppress(ImportError):
            import uvloop

            uvloop.install()
        asyncio.run(client_main(args))
        return 0
    return coordinate(args)


def coordinate(args: argparse.Namespace) -> int:
    fd_limit = raise_fd_limit()
    ensure_port_free(args.port)
    org = setup(args.database_url)
    key = org["api_key"]
    base = f"http://127.0.0.1:{args.port}"
    env = {
        **os.environ,
        "KASSA_DATABASE_URL": args.database_url,
        "KASSA_BASE_URL": base,
        "KASSA_SSE_MAX_CONNECTIONS": str(args.streams + 100),
        "KASSA_DATABASE_POOL_SIZE": "20",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "kassa.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port),
            "--lifespan",
            "on",
            "--log-level",
            "warning",
            "--backlog",
            "4096",
            "--timeout-graceful-shutdown",
            "2",
        ],
        env=env,
        preexec_fn=raise_fd_limit,  # only raises the open-files limit
        stdout=subprocess.DEVNULL,
    )
    clients: list[subprocess.Popen[str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="kassa-bench-sse-"))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        wallets = make_wallets(base, key, args.wallets)
        time.sleep(1)
        rss_before = rss_kib(server.pid)
        # Streams spread evenly over the wallets, split across the client processes.
        assignment = [wallets[n % len(wallets)] for n in range(args.streams)]
        per_client = [assignment[i :: args.client_processes] for i in range(args.client_processes)]
        connect_started = time.monotonic()
        for index, chunk in enumerate(per_client):
            (tmp / f"wallets{index}.txt").write_text(",".join(chunk))
            clients.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--port",
                        str(args.port),
                        "--key",
                        key,
                        "--client-wallets",
                        str(tmp / f"wallets{index}.txt"),
                        "--out",
                        str(tmp / f"client{index}.json"),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for client in clients:
            assert client.stdout is not None
            line = client.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"a client process failed to open its streams ({line!r})")
        connect_seconds = time.monotonic() - connect_started
        time.sleep(2)
        rss_after = rss_kib(server.pid)
        streams_per_wallet = {w: assignment.count(w) for w in wallets}

        os.environ["KASSA_DATABASE_URL"] = args.database_url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kassa.settings")
        import django

        django.setup()
        from kassa.wallets.services import get_wallet

        wallet_objects = [get_wallet(org["id"], wallet_id) for wallet_id in wallets]
        sent_at: dict[tuple[str, int], tuple[float, float]] = {}
        rounds: list[dict[str, Any]] = []
        cpu_before = cpu_seconds(server.pid)
        for round_no in range(1, args.rounds + 1):
            started = time.monotonic()
            times = charge_round(wallet_objects, round_no, args.rate)
            for wallet, pair in times.items():
                sent_at[(wallet, -CHARGE * round_no)] = pair
            rounds.append(
                {"round": round_no, "charges": len(times), "seconds": time.monotonic() - started}
            )
            # Let the last deliveries of the round arrive before the next one starts.
            time.sleep(1.0)
        server_cpu = cpu_seconds(server.pid) - cpu_before
        for client in clients:
            assert client.stdin is not None
            assert client.stdout is not None
            client.stdin.write("stop\n")
            client.stdin.flush()
            client.stdout.readline()
        events: list[Any] = []
        for index in range(len(clients)):
            events += json.loads((tmp / f"client{index}.json").read_text())
    finally:
        for client in clients:
            client.kill()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    written = entry_times(args.database_url, {int(e[3]) for e in events})
    from_write: list[float] = []
    from_call: list[float] = []
    after_commit: list[float] = []
    for wallet, balance, received, sequence, wall in events:
        pair = sent_at.get((wallet, balance))
        if pair is None:
            continue
        from_call.append((received - pair[0]) * 1000)
        after_commit.append((received - pair[1]) * 1000)
        if sequence in written:
            from_write.append((wall - written[sequence]) * 1000)
    expected = sum(streams_per_wallet.values()) * args.rounds
    growth = max(0, rss_after - rss_before)
    report = {
        "benchmark": "sse",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "db_fastpath": fastpath_mode(),
            "load_average_at_end": os.getloadavg(),
        },
        "server_processes": 1,
        "client_processes": args.client_processes,
        "streams": args.streams,
        "wallets": args.wallets,
        "rounds": args.rounds,
        "changes_per_second": args.rate,
        "fd_limit": fd_limit,
        "connect_all_seconds": round(connect_seconds, 2),
        "deliveries_expected": expected,
        "deliveries_received": len(after_commit),
        # Headline: from the moment the charge had committed (the service call returned,
        # after its commit and NOTIFY) to the moment a client process read the event.
        "delivery_ms_after_commit": summary(after_commit),
        # Upper bounds: from the start of the service call (includes the charge's own
        # transaction), and from the ledger entry's timestamp (wall clock, written inside
        # the transaction before the commit).
        "delivery_ms_from_charge_call": summary(from_call),
        "delivery_ms_from_ledger_entry_time": summary(from_write),
        "charge_rounds": [{**r, "seconds": round(r["seconds"], 2)} for r in rounds],
        "server_rss_mib": {
            "before": round(rss_before / 1024, 1),
            "after": round(rss_after / 1024, 1),
        },
        # The server's CPU time (user + system) over the charge rounds, heartbeats included:
        # what the fan-out costs, whatever else the machine was doing.
        "server_cpu_seconds_during_rounds": round(server_cpu, 2),
        "server_cpu_ms_per_1000_deliveries": round(server_cpu * 1e6 / len(after_commit), 1)
        if after_commit
        else None,
        "memory_per_connection_kib": round(growth / args.streams, 1) if args.streams else None,
        "target": {"streams": 10_000, "p99_delivery_ms": 250},
        "met": len(after_commit) == expected and percentile(after_commit, 0.99) <= 250,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
