"""Wallet charges over HTTP on a real ASGI server with PostgreSQL.

    .venv/bin/python bench/wallets.py [--seconds 10] [--clients 16] [--web-workers 1]
        [--web-threads 8]

Creates (and drops) its own database, starts `kassa serve` (uvicorn) on it, funds one wallet
through a sandbox top-up, and drives it with concurrent HTTP clients (one keep-alive
connection each, bench/_http.py):
  single  POST /v1/wallets/{id}/charges, each with its own Idempotency-Key, all clients on the
          same (hot) wallet
  batch   POST /v1/wallet_charges/batch with 1,000 charges each (own keys), same wallet
Then runs pgbench's TPC-B on the same database for scale, counts the database round trips of
one charge request (in-process, libpq's protocol trace), shows how many charges each commit
carried, and verifies the ledger and the wallet's exact final balance. Prints JSON. The
figures depend on the machine: note its load when you quote them.

The server runs one worker process with 8 request threads by default: the charges of one
wallet that arrive together in a process are posted in one transaction
(kassa.wallets.combining), so on one hot wallet one process with several threads combines
more of them than two processes do, which also wait on each other's row lock (measured on the
2-core machine: docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from _http import Client
from _server import (
    CpuMeter,
    KassaServer,
    analyze,
    close_django,
    django_setup,
    drop_database,
    ensure_port_free,
    latency_summary,
    machine,
    per_request_ms,
    pgbench,
    run_clients,
    setup,
    uvloop_run,
)

FUNDING = 99_999_999  # the largest EUR top-up (kassa.core.money.max_amount)
_keys = itertools.count()


async def prepare(base: str, key: str) -> str:
    http = Client(base, {"Authorization": f"Bearer {key}"})
    account = await http.post(
        "/v1/gateway_accounts",
        {"provider": "sandbox", "test_mode": True, "currencies": ["EUR"], "default": True},
    )
    assert account.status == 200, account.body
    customer = (await http.post("/v1/customers", {"name": "Hot meter"})).json()
    wallet = await http.post("/v1/wallets", {"customer": customer["id"], "currency": "EUR"})
    assert wallet.status == 200, wallet.body
    wallet_id = str(wallet.json()["id"])
    topup = (await http.post(f"/v1/wallets/{wallet_id}/topups", {"amount": FUNDING})).json()
    paid = await http.post(
        f"/v1/test_helpers/payments/{topup['payment']['id']}/complete", {"outcome": "succeeded"}
    )
    assert paid.status == 200, paid.body
    balance = (await http.get(f"/v1/wallets/{wallet_id}")).json()["balance"]
    assert balance == FUNDING, balance
    http.close()
    return wallet_id


async def drive(
    base: str, key: str, wallet_id: str, clients: int, seconds: float, batch: int
) -> dict[str, Any]:
    latencies: list[float] = []
    charged = 0
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        nonlocal charged
        http = Client(base, {"Authorization": f"Bearer {key}"})
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            if batch:
                body = {
                    "charges": [
                        {"wallet": wallet_id, "amount": 1, "idempotency_key": f"b{next(_keys)}"}
                        for _ in range(batch)
                    ]
                }
                response = await http.post("/v1/wallet_charges/batch", body)
            else:
                response = await http.post(
                    f"/v1/wallets/{wallet_id}/charges",
                    {"amount": 1, "description": "1 minute"},
                    headers={"Idempotency-Key": f"s{next(_keys)}"},
                )
            latencies.append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                errors.append(f"{response.status} {response.body[:200]!r}")
                continue
            charged += batch or 1
        http.close()

    elapsed = await run_clients(clients, client)
    return {
        "charges_per_second": round(charged / elapsed, 1),
        "charges": charged,
        "requests": len(latencies),
        "errors": len(errors),
        "first_errors": errors[:3],
        **latency_summary(latencies),
    }


def measured(
    server: KassaServer, key: str, wallet_id: str, clients: int, seconds: float, batch: int
) -> dict[str, Any]:
    meter = CpuMeter(server)
    meter.start()
    result = uvloop_run(drive(server.base, key, wallet_id, clients, seconds, batch))
    cpu = meter.stop()
    result["cpu_ms_per_request"] = per_request_ms(cpu, result["requests"])
    result["cpu_ms_per_charge"] = per_request_ms(cpu, result["charges"])
    return result


def round_trips_per_charge(key: str, wallet_id: str) -> int:
    """Database round trips of one charge request, counted in libpq's protocol trace (each
    turn from the client's messages to the server's answers)."""
    import tempfile

    from django.db import connection
    from django.test import Client
    from psycopg import pq

    client = Client()
    path = f"/v1/wallets/{wallet_id}/charges"
    auth = {"Authorization": f"Bearer {key}"}
    # A first charge fills this process's caches (the API key, the accounts' ids), as a
    # server's are.
    warm = client.post(path, {"amount": 1}, content_type="application/json", headers=auth)
    assert warm.status_code == 200, warm.content
    headers = {**auth, "Idempotency-Key": "count-round-trips"}
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            response = client.post(
                path, {"amount": 1}, content_type="application/json", headers=headers
            )
        finally:
            pgconn.untrace()
        trace.seek(0)
        directions = [line[0] for line in trace.read().splitlines() if line[:1] in ("F", "B")]
    assert response.status_code == 200, response.content
    return sum(1 for turn in itertools.pairwise(directions) if turn == ("F", "B"))


def charges_per_commit(url: str) -> dict[str, int]:
    """How many single charges each commit carried: {charges: commits}. The charges of one
    transaction share its timestamp."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT n, count(*) FROM (SELECT created_at, count(*) AS n FROM ledger_transaction"
            " WHERE kind = 'wallet_charge' GROUP BY created_at) AS t GROUP BY n ORDER BY n"
        ).fetchall()
    return {str(n): commits for n, commits in rows}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch-clients", type=int, default=4)
    parser.add_argument("--web-workers", type=int, default=1)
    parser.add_argument("--web-threads", type=int, default=8)
    parser.add_argument("--port", type=int, default=8627)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "KASSA_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/kassa_bench_wallets"
        ),
    )
    args = parser.parse_args()
    ensure_port_free(args.port)
    org = setup(args.database_url)
    key = org["api_key"]
    load_before = os.getloadavg()
    server = KassaServer(
        args.database_url, args.port, workers=args.web_workers, threads=args.web_threads
    )
    with server:
        wallet_id = uvloop_run(prepare(server.base, key))
        uvloop_run(drive(server.base, key, wallet_id, args.clients, 2, 0))  # warm every worker
        analyze(args.database_url)
        single = measured(server, key, wallet_id, args.clients, args.seconds, 0)
        single["charges_per_commit"] = charges_per_commit(args.database_url)
        batch = measured(server, key, wallet_id, args.batch_clients, args.seconds, 1000)
    # The database's own speed on this machine right now, for scale.
    tps = pgbench(args.database_url, args.clients, int(args.seconds))
    django_setup(args.database_url)
    from kassa.ledger.models import LedgerTransaction
    from kassa.ledger.verify import verify
    from kassa.wallets.models import Wallet

    round_trips = round_trips_per_charge(key, wallet_id)
    problems = verify()
    wallet = Wallet.objects.select_related("ledger_account").get(pk=wallet_id)
    charges = LedgerTransaction.objects.filter(kind="wallet_charge").count()
    exact = wallet.ledger_account.balance == FUNDING - charges
    close_django()
    report = {
        "benchmark": "wallets",
        "machine": {**machine(), "load_average_before": [round(x, 2) for x in load_before]},
        "clients": args.clients,
        "batch_clients": args.batch_clients,
        "web_workers": args.web_workers,
        "web_threads": args.web_threads,
        "seconds_per_run": args.seconds,
        "single_charges_one_hot_wallet": single,
        "batch_charges_one_hot_wallet": batch,
        "database_round_trips_per_charge_request": round_trips,
        "pgbench_tpcb_tps": tps,
        "ratio_single_to_pgbench": round(single["charges_per_second"] / tps, 3) if tps else None,
        "targets": {"single_per_s": 400, "single_p99_ms": 50, "batch_charges_per_s": 10_000},
        "targets_met": {
            "single_per_s": single["charges_per_second"] >= 400,
            "single_p99_ms": single["p99_ms"] <= 50,
            "batch_charges_per_s": batch["charges_per_second"] >= 10_000,
        },
        "final_balance_exact": exact,
        "ledger_verified": not problems,
    }
    print(json.dumps(report, indent=2))
    drop_database(args.database_url)
    return 0 if exact and not problems and not single["errors"] and not batch["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
