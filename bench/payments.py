"""Payments over HTTP on a real ASGI server with PostgreSQL.

    .venv/bin/python bench/payments.py [--seconds 10] [--clients 16] [--web-workers 2]

Creates (and drops) its own database, starts `kassa serve` (uvicorn) on it, and drives it with
concurrent HTTP clients (one keep-alive connection each, bench/_http.py):
  create  POST /v1/payments
  flow    POST /v1/payments, then the sandbox's signed success event through the inbound path
          (POST /v1/test_helpers/payments/{id}/complete), then GET /v1/payments/{id}, which
          must read back "succeeded"
Then runs pgbench's TPC-B on the same database in the same run and prints JSON with the rates,
p50/p99 latencies, the CPU each side used per request and the ratio to pgbench. The ledger is
verified at the end, and every payment a flow completed must have succeeded with one posting.
"""

from __future__ import annotations

import argparse
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

TARGETS = {"payments_created_per_s": 500, "p99_ms": 50, "complete_flows_per_s": 250}


async def drive(base: str, key: str, clients: int, seconds: float, *, flow: bool) -> dict[str, Any]:
    latencies: list[float] = []
    completed: list[str] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    async def call(http: Client, method: str, path: str, body: Any = None) -> Any:
        start = time.perf_counter()
        response = await http.request(method, path, body)
        latencies.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            errors.append(f"{method} {path}: {response.status} {response.body[:200]!r}")
            return None
        return response.json()

    async def client(index: int) -> None:
        http = Client(base, {"Authorization": f"Bearer {key}"})
        while time.perf_counter() < deadline:
            body = {"amount": 150000, "currency": "UZS"}
            created = await call(http, "POST", "/v1/payments", body)
            if created is None:
                continue
            if flow:
                payment_id = created["id"]
                path = f"/v1/test_helpers/payments/{payment_id}/complete"
                if await call(http, "POST", path, {"outcome": "succeeded"}) is None:
                    continue
                read = await call(http, "GET", f"/v1/payments/{payment_id}")
                if read is None or read["status"] != "succeeded":
                    errors.append(f"{payment_id} read back as {read and read['status']}")
                    continue
            completed.append(created["id"])
        http.close()

    elapsed = await run_clients(clients, client)
    return {
        "per_second": round(len(completed) / elapsed, 1),
        "completed": len(completed),
        "requests": len(latencies),
        "errors": len(errors),
        "first_errors": errors[:3],
        **latency_summary(latencies),
        "_completed": completed,
    }


async def prepare(base: str, key: str) -> None:
    http = Client(base, {"Authorization": f"Bearer {key}"})
    created = await http.post(
        "/v1/gateway_accounts",
        {"provider": "sandbox", "test_mode": True, "currencies": ["UZS"], "default": True},
    )
    assert created.status == 200, created.body
    http.close()


def measured(
    server: KassaServer, key: str, clients: int, seconds: float, *, flow: bool
) -> dict[str, Any]:
    meter = CpuMeter(server)
    meter.start()
    result = uvloop_run(drive(server.base, key, clients, seconds, flow=flow))
    result["cpu_ms_per_request"] = per_request_ms(meter.stop(), result["requests"])
    return result


def check(url: str, flows: list[str]) -> dict[str, bool]:
    django_setup(url)
    from kassa.ledger.models import LedgerTransaction
    from kassa.ledger.verify import verify
    from kassa.payments.models import Payment

    succeeded = Payment.objects.filter(pk__in=flows, status="succeeded").count()
    postings = LedgerTransaction.objects.filter(reference__in=flows, kind="payment").count()
    problems = verify()
    close_django()
    return {
        "flows_succeeded": succeeded == len(flows),
        "one_posting_per_flow": postings == len(flows),
        "ledger_verified": not problems,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=None)
    parser.add_argument("--port", type=int, default=8611)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "KASSA_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/kassa_bench_payments"
        ),
    )
    args = parser.parse_args()
    ensure_port_free(args.port)
    org = setup(args.database_url)
    key = org["api_key"]
    with KassaServer(
        args.database_url, args.port, workers=args.web_workers, threads=args.web_threads
    ) as server:
        uvloop_run(prepare(server.base, key))
        uvloop_run(drive(server.base, key, args.clients, 2, flow=True))  # warm every worker
        analyze(args.database_url)
        create = measured(server, key, args.clients, args.seconds, flow=False)
        flow = measured(server, key, args.clients, args.seconds, flow=True)
    tps = pgbench(args.database_url, args.clients, int(args.seconds))
    create.pop("_completed")
    checks = check(args.database_url, flow.pop("_completed"))
    report = {
        "benchmark": "payments",
        "machine": machine(),
        "clients": args.clients,
        "web_workers": args.web_workers,
        "web_threads": args.web_threads,
        "seconds_per_run": args.seconds,
        "payments_created": create,
        "complete_flows": flow,
        "pgbench_tpcb_tps": tps,
        "ratio_created_to_pgbench": round(create["per_second"] / tps, 3) if tps else None,
        "ratio_flows_to_pgbench": round(flow["per_second"] / tps, 3) if tps else None,
        "targets": TARGETS,
        "targets_met": {
            "payments_created_per_s": create["per_second"] >= TARGETS["payments_created_per_s"],
            "p99_ms": create["p99_ms"] <= TARGETS["p99_ms"],
            "complete_flows_per_s": flow["per_second"] >= TARGETS["complete_flows_per_s"],
        },
        "checks": checks,
    }
    import json

    print(json.dumps(report, indent=2))
    drop_database(args.database_url)
    ok = all(checks.values()) and not create["errors"] and not flow["errors"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
