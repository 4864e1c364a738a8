"""OCTO notifications on PostgreSQL: how fast Kassa takes them in and grants value.

    .venv/bin/python bench/octo.py [--payments 300] [--database-url postgresql://postgres@127.0.0.1/kassa_bench_octo]

Creates (and drops) its own database and starts the local OCTO simulator
(tests/simulators/octo_sim.py, real HTTP on 127.0.0.1). Prepares N UZS payments through the
OCTO connector (prepare_payment), lets the simulated customers pay, then measures, in one
process and one thread:
  hook       the notification endpoint (signature check, store once, enqueue): per request
  process    the event task (a status call to OCTO, then the success transition and ledger
             posting): per event
  duplicate  the same notifications again (deduplicated, nothing granted twice)
and prints JSON (per second and p50/p99 ms) plus checks: every payment succeeded with exactly one
ledger posting and the ledger balanced. The view is called directly (no ASGI server); the
status call is real HTTP to the simulator, so `process` includes one network round trip.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, ROOT)
from _server import admin_connect as _admin_connect  # noqa: E402
from _server import fastpath_mode, percentile, setup  # noqa: E402


def timed(calls: list[Any]) -> tuple[float, list[float]]:
    latencies = []
    start = time.perf_counter()
    for call in calls:
        began = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - began) * 1000)
    return time.perf_counter() - start, latencies


def summary(count: int, elapsed: float, latencies: list[float]) -> dict[str, float]:
    return {
        "per_second": round(count / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/kassa_bench_octo"
    )
    args = parser.parse_args()
    org = setup(args.database_url)
    os.environ["KASSA_DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kassa.settings")
    import django

    django.setup()
    from django.db import connections
    from django.test import RequestFactory
    from tests.ledger.helpers import assert_ledger_balanced
    from tests.simulators.octo_sim import OctoSimulator

    from kassa.core.actors import Actor
    from kassa.core.models import Organization
    from kassa.ledger.models import LedgerTransaction
    from kassa.payments import inbound, services, views
    from kassa.payments.accounts import create_gateway_account
    from kassa.payments.models import GatewayEvent, Payment

    sim = OctoSimulator().start()
    try:
        organization = Organization.objects.get(pk=org["id"])
        account = create_gateway_account(
            organization,
            provider="octo",
            test_mode=True,
            credentials={"shop_id": str(sim.shop_id), "secret": sim.secret},
            options={"api_url": sim.url},
            is_default=True,
            actor=Actor.system("bench"),
        )
        ids = []
        for _ in range(args.payments):
            payment = services.create_payment(
                organization, amount=150000, currency="UZS", livemode=False
            )
            services.start_checkout(payment.id, account.id, "ru")
            sim.customer_pays(payment.id)
            ids.append(payment.id)
        factory = RequestFactory()
        bodies = [sim.encode(sim.notification(pid)) for pid in ids]

        def hook(body: bytes) -> Any:
            def call() -> None:
                request = factory.post(
                    f"/hooks/octo/{account.id}", body, content_type="application/json"
                )
                response = views.provider_hook(request, "octo", account.id)
                assert response.status_code == 200, response.content

            return call

        hook_time, hook_lat = timed([hook(b) for b in bodies])
        events = list(
            GatewayEvent.objects.filter(gateway_account=account, verified=True).values_list(
                "pk", flat=True
            )
        )

        def process(event_id: str) -> Any:
            return lambda: inbound.process(event_id)

        process_time, process_lat = timed([process(e) for e in events])
        again = [sim.encode(sim.notification(pid)) for pid in ids]
        dup_time, dup_lat = timed([hook(b) for b in again])
        succeeded = Payment.objects.filter(pk__in=ids, status="succeeded").count()
        postings = LedgerTransaction.objects.filter(reference__in=ids).count()
        assert_ledger_balanced(organization.id)
        result = {
            "benchmark": "octo_notifications",
            "payments": args.payments,
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "db_fastpath": fastpath_mode(),
            },
            "hook": summary(len(bodies), hook_time, hook_lat),
            "process": summary(len(events), process_time, process_lat),
            "duplicate": summary(len(again), dup_time, dup_lat),
            "checks": {
                "events_stored": len(events),
                "succeeded": succeeded,
                "ledger_postings": postings,
                "ledger_balanced": True,
                "ok": len(events) == succeeded == postings == args.payments,
            },
        }
        print(json.dumps(result, indent=2))
        return 0 if result["checks"]["ok"] else 1  # type: ignore[index]
    finally:
        sim.stop()
        connections.close_all()
        name = args.database_url.rsplit("/", 1)[-1]
        with _admin_connect(args.database_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    raise SystemExit(main())
