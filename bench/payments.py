"""Payments over HTTP on a real ASGI server with PostgreSQL.

    .venv/bin/python bench/payments.py [--seconds 10] [--clients 16] [--web-workers 2]

Creates (and drops) its own database, starts `kassa serve` (uvicorn) on it, and drives it with
concurrent HTTP clients (asyncio + httpx, keep-alive):
  create  POST /v1/payments
  flow    POST /v1/payments, then the sandbox's signed success event through the inbound path
          (POST /v1/test_helpers/payments/{id}/complete), then GET /v1/payments/{id}, which
          must read back "succeeded"
Then runs pgbench's TPC-B on the same database in the same run and prints JSON with the rates,
p50/p99 latencies and the ratio to pgbench. The ledger is verified at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
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


def setup(url: str) -> dict[str, str]:
    name = urlsplit(url).path.lstrip("/")
    with _admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
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
    return json.loads(created.stdout)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(base: str, key: str, clients: int, seconds: float, flow: bool) -> dict[str, Any]:
    latencies: list[float] = []
    done = 0
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as http:

        async def call(method: str, path: str, body: Any = None) -> httpx.Response:
            start = time.perf_counter()
            response = await http.request(method, path, json=body)
            latencies.append((time.perf_counter() - start) * 1000)
            return response

        async def client() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                created = await call("POST", "/v1/payments", {"amount": 150000, "currency": "UZS"})
                if created.status_code != 200:
                    errors += 1
                    continue
                if flow:
                    payment_id = created.json()["id"]
                    await call(
                        "POST",
                        f"/v1/test_helpers/payments/{payment_id}/complete",
                        {"outcome": "succeeded"},
                    )
                    read = await call("GET", f"/v1/payments/{payment_id}")
                    if read.json().get("status") != "succeeded":
                        errors += 1
                        continue
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "per_second": round(done / elapsed, 1),
        "completed": done,
        "errors": errors,
        "requests": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 2),
    }


def pgbench(url: str, clients: int, seconds: int) -> float:
    parts = urlsplit(url)
    args = [
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
    ]
    name = parts.path.lstrip("/")
    subprocess.run(["pgbench", *args, "-i", "-s", "1", "-q", name], check=True, capture_output=True)
    result = subprocess.run(
        ["pgbench", *args, "-c", str(clients), "-j", "2", "-T", str(seconds), name],
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r"tps = ([\d.]+)", result.stdout)
    return float(match.group(1)) if match else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8611)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "KASSA_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/kassa_bench_payments"
        ),
    )
    args = parser.parse_args()
    org = setup(args.database_url)
    base = f"http://127.0.0.1:{args.port}"
    env = {**os.environ, "KASSA_DATABASE_URL": args.database_url, "KASSA_BASE_URL": base}
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
        create, flow = asyncio.run(run_http(base, org["api_key"], args))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    tps = pgbench(args.database_url, args.clients, int(args.seconds))
    os.environ["KASSA_DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kassa.settings")
    import django

    django.setup()
    from kassa.ledger.verify import verify

    problems = verify()
    report = {
        "benchmark": "payments",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "clients": args.clients,
        "web_workers": args.web_workers,
        "seconds_per_run": args.seconds,
        "payments_created": create,
        "complete_flows": flow,
        "pgbench_tpcb_tps": tps,
        "ratio_created_to_pgbench": round(create["per_second"] / tps, 3) if tps else None,
        "ratio_flows_to_pgbench": round(flow["per_second"] / tps, 3) if tps else None,
        "targets": {"payments_created_per_s": 500, "p99_ms": 50, "complete_flows_per_s": 250},
        "ledger_verified": not problems,
    }
    print(json.dumps(report, indent=2))
    from django.db import connections

    connections.close_all()
    name = urlsplit(args.database_url).path.lstrip("/")
    with _admin_connect(args.database_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0 if not problems else 1


async def run_http(
    base: str, key: str, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
        for _ in range(150):
            try:
                if (await http.get("/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
        created = await http.post(
            "/v1/gateway_accounts",
            json={"provider": "sandbox", "test_mode": True, "currencies": ["UZS"], "default": True},
        )
        created.raise_for_status()
    await drive(base, key, args.clients, 2, flow=True)  # warm up every worker
    create = await drive(base, key, args.clients, args.seconds, flow=False)
    flow = await drive(base, key, args.clients, args.seconds, flow=True)
    return create, flow


if __name__ == "__main__":
    sys.exit(main())
