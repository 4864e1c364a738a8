"""Payme Merchant API over HTTP on a real ASGI server with PostgreSQL.

    .venv/bin/python bench/payme.py [--seconds 10] [--clients 16] [--web-workers 2]

Creates (and drops) its own database, starts `kassa serve` (uvicorn) on it, creates a test-mode
Payme gateway account and enough pending UZS payments, then drives the Merchant API
endpoint `POST /hooks/payme/<gwa>` the way Payme does, with concurrent clients (one keep-alive
connection each, bench/_http.py, Basic auth): for each payment CheckPerformTransaction ->
CreateTransaction -> PerformTransaction, every call checked for the expected result. Prints JSON
with JSON-RPC calls per second, p50/p99 latency per call (overall and per method), the CPU per
call of Kassa, PostgreSQL and the client, and whether the ledger verifies and every payment
performed is `succeeded` with exactly one ledger posting.
"""

from __future__ import annotations

import argparse
import base64
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

KEY = "BENCH_KEY_0123456789abcdefghijklmnop"
MERCHANT_ID = "5e730e8e0b852a417aa49ceb"
AMOUNT = 150000
METHODS = ("CheckPerformTransaction", "CreateTransaction", "PerformTransaction")


def prepare(organization_id: str, count: int) -> tuple[str, list[str]]:
    """The Payme account (through the service, as the API would) and `count` pending UZS
    payments, inserted in bulk: creating them is not what is measured."""
    from datetime import timedelta

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
    close_django()
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
    headers = {"Authorization": f"Basic {token}"}
    path = f"/hooks/payme/{account_id}"
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        http = Client(base, headers)

        async def rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
            body = json.dumps({"method": method, "params": params, "id": next(ids)}).encode()
            start = time.perf_counter()
            response = await http.request(
                "POST", path, body=body, content_type="text/json; charset=UTF-8"
            )
            latencies[method].append((time.perf_counter() - start) * 1000)
            reply: dict[str, Any] = response.json()
            if response.status != 200 or "error" in reply:
                errors.append(f"{method}: {response.status} {reply.get('error')}")
            return reply

        while time.perf_counter() < deadline:
            payment_id = next(queue, None)
            if payment_id is None:
                errors.append("ran out of payments")
                break
            account = {"order_id": payment_id}
            checked = await rpc("CheckPerformTransaction", {"amount": AMOUNT, "account": account})
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
        http.close()

    elapsed = await run_clients(clients, client)
    everything = [v for values in latencies.values() for v in values]
    return {
        "calls_per_second": round(len(everything) / elapsed, 1),
        "sequences_per_second": round(len(performed) / elapsed, 1),
        "calls": len(everything),
        "sequences_completed": len(performed),
        "errors": len(errors),
        "first_errors": errors[:3],
        **latency_summary(everything),
        "per_method": {method: latency_summary(values) for method, values in latencies.items()},
        "_performed": performed,
    }


async def healthz(base: str, clients: int, seconds: float) -> float:
    """GET /healthz per second through the same server and clients: the ceiling the web
    stack itself allows on this machine right now, to read the Payme figures against."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        nonlocal done
        http = Client(base)
        while time.perf_counter() < deadline:
            if (await http.get("/healthz")).status == 200:
                done += 1
        http.close()

    elapsed = await run_clients(clients, client)
    return round(done / elapsed, 1)


def check_results(performed: list[str]) -> dict[str, Any]:
    """Every performed payment succeeded with one ledger posting; the ledger verifies."""
    from kassa.ledger.models import LedgerTransaction
    from kassa.ledger.verify import verify
    from kassa.payments.models import Payment

    succeeded = Payment.objects.filter(pk__in=performed, status="succeeded").count()
    postings = LedgerTransaction.objects.filter(reference__in=performed).count()
    problems = verify()
    close_django()
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
    parser.add_argument("--web-threads", type=int, default=None)
    parser.add_argument("--port", type=int, default=8621)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "KASSA_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/kassa_bench_payme"
        ),
    )
    args = parser.parse_args()
    ensure_port_free(args.port)
    org = setup(args.database_url)
    django_setup(args.database_url)
    # Enough payments for a generous 1,500 calls/s, plus the warm-up.
    account_id, payments = prepare(org["id"], int(args.seconds * 500) + 600)
    server = KassaServer(
        args.database_url, args.port, workers=args.web_workers, threads=args.web_threads
    )
    with server:
        warm = uvloop_run(drive(server.base, account_id, payments[:400], args.clients, 2))
        analyze(args.database_url)
        meter = CpuMeter(server)
        meter.start()
        run = uvloop_run(drive(server.base, account_id, payments[400:], args.clients, args.seconds))
        cpu = meter.stop()
        health = uvloop_run(healthz(server.base, args.clients, min(args.seconds, 5)))
    tps = pgbench(args.database_url, args.clients, int(min(args.seconds, 10)))
    checks = check_results(warm.pop("_performed") + run.pop("_performed"))
    report = {
        "benchmark": "payme",
        "machine": machine(),
        "clients": args.clients,
        "web_workers": args.web_workers,
        "web_threads": args.web_threads,
        "seconds": args.seconds,
        "sequence": list(METHODS),
        "result": run,
        "cpu_ms_per_call": per_request_ms(cpu, run["calls"]),
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
        "targets_met": {
            "calls_per_second": run["calls_per_second"] >= 600,
            "p99_ms": run["p99_ms"] <= 50,
        },
    }
    print(json.dumps(report, indent=2))
    drop_database(args.database_url)
    ok = all(checks.values()) and not run["errors"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
