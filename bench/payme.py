"""Payme Merchant API over HTTP on a real ASGI server with PostgreSQL.

    .venv/bin/python bench/payme.py [--seconds 10] [--clients 16] [--web-workers 2]

Creates (and drops) its own database, starts `kassa serve` (uvicorn) on it, creates a test-mode
Payme gateway account and enough pending UZS payments, then drives the Merchant API
endpoint `POST /hooks/payme/<gwa>` the way Payme does, with concurrent clients (asyncio + httpx,
keep-alive, Basic auth): for each payment CheckPerformTransaction -> CreateTransaction ->
PerformTransaction, every call checked for the expected result. Prints JSON with JSON-RPC calls
per second, p50/p99 latency per call (overall and per method), and whether the ledger verifies
and every payment performed is `succeeded` with exactly one ledger posting.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from ledger import _admin_connect
from payments import percentile, pgbench, setup

KEY = "BENCH_KEY_0123456789abcdefghijklmnop"
MERCHANT_ID = "5e730e8e0b852a417aa49ceb"
AMOUNT = 150000
METHODS = ("CheckPerformTransaction", "CreateTransaction", "PerformTransaction")


def _cpu_of(pid: int) -> float:
    """utime + stime of a process in seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes(match: Any) -> list[int]:
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


def cpu_snapshot(server_pid: int, database: str) -> dict[str, dict[int, float]]:
    """CPU seconds so far of the Kassa server (uvicorn and its workers) and of the PostgreSQL
    backends serving the bench database, so the report can say what a call costs in CPU
    whatever else the machine is doing."""
    server = _processes(lambda pid, ppid, cmd: pid == server_pid or ppid == server_pid)
    backends = _processes(lambda pid, ppid, cmd: cmd.startswith("postgres:") and database in cmd)
    return {
        "kassa": {pid: _cpu_of(pid) for pid in server},
        "postgres": {pid: _cpu_of(pid) for pid in backends},
    }


def cpu_used(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
) -> dict[str, float]:
    return {
        part: sum(after[part][pid] - before[part].get(pid, 0.0) for pid in after[part])
        for part in after
    }


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(900):  # a loaded machine can take minutes to start the workers
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("kassa serve did not become ready")


def prepare(organization_id: str, count: int) -> tuple[str, list[str]]:
    """The Payme account (through the service, as the API would) and `count` pending UZS
    payments, inserted in bulk: creating them is not what is measured."""
    import django

    django.setup()
    from datetime import timedelta

    from django.db import connections
    from django.utils import timezone

    from kassa.core.actors import Actor
    from kassa.core.models import Organization
    from kassa.payments.accounts import create_gateway_account
    from kassa.payments.models import Payment

    org = Organization.objects.get(pk=organization_id)
    account = create_gateway_account(
        org,
        provider="payme",
        test_mode=True,
        credentials={"merchant_id": MERCHANT_ID, "key": KEY},
        is_default=True,
        actor=Actor.system("bench"),
    )
    expires = timezone.now() + timedelta(days=1)
    payments = [
        Payment(
            organization=org,
            livemode=False,
            amount=AMOUNT,
            currency="UZS",
            gateway_account=account,
            expires_at=expires,
        )
        for _ in range(count)
    ]
    Payment.objects.bulk_create(payments, batch_size=1000)
    connections.close_all()
    return account.id, [p.id for p in payments]


async def drive(
    base: str, account_id: str, payments: list[str], clients: int, seconds: float
) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {m: [] for m in METHODS}
    errors: list[str] = []
    performed: list[str] = []
    queue = iter(payments)
    ids = itertools.count(1)
    token = base64.b64encode(f"Paycom:{KEY}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "text/json; charset=UTF-8"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    path = f"/hooks/payme/{account_id}"
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as http:

        async def rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
            body = json.dumps({"method": method, "params": params, "id": next(ids)})
            start = time.perf_counter()
            response = await http.post(path, content=body)
            latencies[method].append((time.perf_counter() - start) * 1000)
            reply: dict[str, Any] = response.json()
            if response.status_code != 200 or "error" in reply:
                errors.append(f"{method}: {response.status_code} {reply.get('error')}")
            return reply

        async def client() -> None:
            while time.perf_counter() < deadline:
                payment_id = next(queue, None)
                if payment_id is None:
                    errors.append("ran out of payments")
                    return
                account = {"order_id": payment_id}
                checked = await rpc(
                    "CheckPerformTransaction", {"amount": AMOUNT, "account": account}
                )
                if checked.get("result") != {"allow": True}:
                    continue
                payme_id = os.urandom(12).hex()  # 24 hex characters, like Payme's ids
                created = await rpc(
                    "CreateTransaction",
                    {
                        "id": payme_id,
                        "time": time.time_ns() // 1_000_000,
                        "amount": AMOUNT,
                        "account": account,
                    },
                )
                if created.get("result", {}).get("state") != 1:
                    continue
                done = await rpc("PerformTransaction", {"id": payme_id})
                if done.get("result", {}).get("state") == 2:
                    performed.append(payment_id)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    everything = [v for values in latencies.values() for v in values]
    return {
        "calls_per_second": round(len(everything) / elapsed, 1),
        "sequences_per_second": round(len(performed) / elapsed, 1),
        "calls": len(everything),
        "sequences_completed": len(performed),
        "errors": len(errors),
        "first_errors": errors[:3],
        "p50_ms": round(statistics.median(everything), 2) if everything else None,
        "p99_ms": round(percentile(everything, 0.99), 2),
        "per_method": {
            method: {
                "p50_ms": round(statistics.median(values), 2) if values else None,
                "p99_ms": round(percentile(values, 0.99), 2),
            }
            for method, values in latencies.items()
        },
        "_performed": performed,
    }


async def healthz(base: str, clients: int, seconds: float) -> float:
    """GET /healthz per second through the same server and clients: the ceiling the web
    stack itself allows on this machine right now, to read the Payme figures against."""
    done = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:

        async def client() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                if (await http.get("/healthz")).status_code == 200:
                    done += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return round(done / (time.perf_counter() - started), 1)


def check_results(performed: list[str]) -> dict[str, Any]:
    """Every performed payment succeeded with one ledger posting; the ledger verifies."""
    from django.db import connections

    from kassa.ledger.models import LedgerTransaction
    from kassa.ledger.verify import verify
    from kassa.payments.models import Payment

    succeeded = Payment.objects.filter(pk__in=performed, status="succeeded").count()
    postings = LedgerTransaction.objects.filter(reference__in=performed).count()
    problems = verify()
    connections.close_all()
    return {
        "performed_payments_succeeded": succeeded == len(performed),
        "one_posting_each": postings == len(performed),
        "ledger_verified": not problems,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8621)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "KASSA_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/kassa_bench_payme"
        ),
    )
    args = parser.parse_args()
    org = setup(args.database_url)
    os.environ["KASSA_DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kassa.settings")
    # Enough payments for a generous 1,500 calls/s, plus the warm-up.
    account_id, payments = prepare(org["id"], int(args.seconds * 500) + 600)
    base = f"http://127.0.0.1:{args.port}"
    env = {
        **os.environ,
        "KASSA_DATABASE_URL": args.database_url,
        "KASSA_BASE_URL": base,
        # A worker runs one request's database work at a time: two pooled connections each
        # are plenty, and PostgreSQL's connection limit is shared with other tenants.
        "KASSA_DATABASE_POOL_SIZE": "2",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kassa",
            "serve",
            "--port",
            str(args.port),
            "--workers",
            str(args.web_workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(wait_ready(base))
        warm = asyncio.run(drive(base, account_id, payments[:400], args.clients, 2))
        name = urlsplit(args.database_url).path.lstrip("/")
        before, client_before = cpu_snapshot(server.pid, name), time.process_time()
        run = asyncio.run(drive(base, account_id, payments[400:], args.clients, args.seconds))
        cpu = cpu_used(before, cpu_snapshot(server.pid, name))
        cpu["bench_client"] = time.process_time() - client_before
        health = asyncio.run(healthz(base, args.clients, min(args.seconds, 5)))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    tps = pgbench(args.database_url, args.clients, int(min(args.seconds, 10)))
    checks = check_results(warm.pop("_performed") + run.pop("_performed"))
    report = {
        "benchmark": "payme",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "clients": args.clients,
        "web_workers": args.web_workers,
        "seconds": args.seconds,
        "sequence": list(METHODS),
        "result": run,
        "cpu_ms_per_call": {
            part: round(seconds * 1000 / max(run["calls"], 1), 2) for part, seconds in cpu.items()
        },
        # What two otherwise idle cores could serve at this CPU cost per call (server,
        # PostgreSQL and this client together): an estimate, not a measurement.
        "idle_two_core_estimate_calls_per_second": round(
            2 / max(sum(cpu.values()) / max(run["calls"], 1), 1e-9), 1
        ),
        # The same machine, the same minute: what a trivial request and raw PostgreSQL
        # transactions reach, so the figures can be read against the machine's load.
        "healthz_per_second": health,
        "pgbench_tpcb_tps": tps,
        "ratio_calls_to_healthz": round(run["calls_per_second"] / health, 3) if health else None,
        "ratio_calls_to_pgbench": round(run["calls_per_second"] / tps, 3) if tps else None,
        "checks": checks,
        "targets": {"calls_per_second": 600, "p99_ms": 50},
    }
    print(json.dumps(report, indent=2))
    name = urlsplit(args.database_url).path.lstrip("/")
    with _admin_connect(args.database_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    ok = all(checks.values()) and not run["errors"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
