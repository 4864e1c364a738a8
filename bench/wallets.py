"""Wallet charges over HTTP on a real ASGI server with PostgreSQL.

    .venv/bin/python bench/wallets.py [--seconds 10] [--clients 16] [--web-workers 2]

Creates (and drops) its own database, starts `kassa serve` (uvicorn) on it, funds one wallet
through a sandbox top-up, and drives it with concurrent HTTP clients (asyncio + httpx,
keep-alive):
  single  POST /v1/wallets/{id}/charges, each with its own Idempotency-Key, all clients on the
          same (hot) wallet
  batch   POST /v1/wallet_charges/batch with 1,000 charges each (own keys), same wallet
Then runs pgbench's TPC-B on the same database for scale, counts the SQL queries of one charge
request (in-process, Django test client) and
verifies the ledger and the wallet's exact final balance. Prints JSON. The figures depend on
the machine: note its load when you quote them.
"""

from __future__ import annotations

import argparse
import asyncio
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

FUNDING = 10**12
_keys = itertools.count()


async def wait_ready(http: httpx.AsyncClient) -> None:
    for _ in range(600):
        try:
            if (await http.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the server did not start")


async def prepare(http: httpx.AsyncClient) -> str:
    await wait_ready(http)
    account = await http.post(
        "/v1/gateway_accounts",
        json={"provider": "sandbox", "test_mode": True, "currencies": ["EUR"], "default": True},
    )
    account.raise_for_status()
    customer = (await http.post("/v1/customers", json={"name": "Hot meter"})).json()
    wallet = await http.post("/v1/wallets", json={"customer": customer["id"], "currency": "EUR"})
    wallet.raise_for_status()
    wallet_id = str(wallet.json()["id"])
    topup = (await http.post(f"/v1/wallets/{wallet_id}/topups", json={"amount": FUNDING})).json()
    paid = await http.post(
        f"/v1/test_helpers/payments/{topup['payment']['id']}/complete",
        json={"outcome": "succeeded"},
    )
    paid.raise_for_status()
    balance = (await http.get(f"/v1/wallets/{wallet_id}")).json()["balance"]
    assert balance == FUNDING, balance
    return wallet_id


async def drive(
    base: str, key: str, wallet_id: str, clients: int, seconds: float, batch: int
) -> dict[str, Any]:
    latencies: list[float] = []
    charged = 0
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as http:

        async def client() -> None:
            nonlocal charged, errors
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                if batch:
                    body = {
                        "charges": [
                            {"wallet": wallet_id, "amount": 1, "idempotency_key": f"b{next(_keys)}"}
                            for _ in range(batch)
                        ]
                    }
                    response = await http.post("/v1/wallet_charges/batch", json=body)
                else:
                    response = await http.post(
                        f"/v1/wallets/{wallet_id}/charges",
                        json={"amount": 1, "description": "1 minute"},
                        headers={"Idempotency-Key": f"s{next(_keys)}"},
                    )
                latencies.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    errors += 1
                    continue
                charged += batch or 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "charges_per_second": round(charged / elapsed, 1),
        "charges": charged,
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 2),
    }


async def run_http(
    base: str, key: str, args: argparse.Namespace
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
        wallet_id = await prepare(http)
    await drive(base, key, wallet_id, args.clients, 2, 0)  # warm up every worker
    single = await drive(base, key, wallet_id, args.clients, args.seconds, 0)
    batch = await drive(base, key, wallet_id, args.batch_clients, args.seconds, 1000)
    return wallet_id, single, batch


def queries_per_charge(key: str, wallet_id: str) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "count-queries"}
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            f"/v1/wallets/{wallet_id}/charges",
            {"amount": 1},
            content_type="application/json",
            headers=headers,
        )
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch-clients", type=int, default=4)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8627)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "KASSA_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/kassa_bench_wallets"
        ),
    )
    args = parser.parse_args()
    org = setup(args.database_url)
    base = f"http://127.0.0.1:{args.port}"
    env = {**os.environ, "KASSA_DATABASE_URL": args.database_url, "KASSA_BASE_URL": base}
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "kassa", "serve"),
            *("--port", str(args.port), "--workers", str(args.web_workers)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    load_before = os.getloadavg()
    try:
        wallet_id, single, batch = asyncio.run(run_http(base, org["api_key"], args))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    # The database's own speed on this machine right now, for scale.
    tps = pgbench(args.database_url, args.clients, int(args.seconds))
    os.environ["KASSA_DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kassa.settings")
    import django

    django.setup()
    from kassa.ledger.models import LedgerTransaction
    from kassa.ledger.verify import verify
    from kassa.wallets.models import Wallet

    queries = queries_per_charge(org["api_key"], wallet_id)
    problems = verify()
    wallet = Wallet.objects.select_related("ledger_account").get(pk=wallet_id)
    charges = LedgerTransaction.objects.filter(kind="wallet_charge").count()
    exact = wallet.ledger_account.balance == FUNDING - charges
    report = {
        "benchmark": "wallets",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "clients": args.clients,
        "batch_clients": args.batch_clients,
        "web_workers": args.web_workers,
        "seconds_per_run": args.seconds,
        "single_charges_one_hot_wallet": single,
        "batch_charges_one_hot_wallet": batch,
        "sql_queries_per_charge_request": queries,
        "pgbench_tpcb_tps": tps,
        "ratio_single_to_pgbench": round(single["charges_per_second"] / tps, 3) if tps else None,
        "targets": {"single_per_s": 400, "single_p99_ms": 50, "batch_charges_per_s": 10_000},
        "final_balance_exact": exact,
        "ledger_verified": not problems,
    }
    print(json.dumps(report, indent=2))
    from django.db import connections

    connections.close_all()
    name = urlsplit(args.database_url).path.lstrip("/")
    with _admin_connect(args.database_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0 if exact and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
