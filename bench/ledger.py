"""Ledger throughput on PostgreSQL.

    .venv/bin/python bench/ledger.py [--seconds 5] [--database-url postgresql://postgres@127.0.0.1/kassa_bench]

Creates (and at the end drops) its own database, then measures `kassa.ledger.services` with
8 and 32 concurrent client processes:
  single_spread   one transfer per database transaction between two of 10,000 accounts
  single_hot      one transfer per transaction, every one touching the same hot account
  batch_spread    batches of 100 transfers per transaction over 10,000 accounts
  batch_hot       batches of 100, every transfer touching the hot account
and prints JSON (transfers per second per scenario and client count, and whether each met its
target). Afterwards it runs `kassa ledger verify`
logic on the result, so a fast but wrong ledger cannot pass.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import sys
import time
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(__file__))
from _server import admin_connect as _admin_connect
from _server import fastpath_mode

ACCOUNTS = 10_000
BATCH = 100


def _django(url: str) -> None:
    os.environ["KASSA_DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kassa.settings")
    import django

    django.setup()


def setup_database(url: str) -> dict[str, Any]:
    name = urlsplit(url).path.lstrip("/")
    with _admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    _django(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from kassa.core.actors import Actor
    from kassa.core.services import create_organization
    from kassa.ledger.models import LedgerAccount

    org = create_organization(name="Bench", actor=Actor.system("bench"), currency="EUR")
    LedgerAccount.objects.bulk_create(
        [
            LedgerAccount(organization=org, kind="bench", owner_id=str(i), currency="EUR")
            for i in range(ACCOUNTS + 1)
        ]
    )
    ids = list(
        LedgerAccount.objects.filter(organization=org).order_by("id").values_list("id", flat=True)
    )
    return {"org": org.id, "hot": ids[0], "spread": ids[1:]}


def client(
    url: str,
    setup: dict[str, Any],
    run: str,
    index: int,
    seconds: float,
    start: Any,
    out: Any,
) -> None:
    _django(url)
    from django.db import connection

    from kassa.ledger import services as ledger

    scenario = run.split("@")[0]

    connection.ensure_connection()
    rng = random.Random(index)
    spread = setup["spread"]
    hot = setup["hot"]
    org = setup["org"]
    batched = scenario.startswith("batch")
    seq = 0

    def spec() -> Any:
        nonlocal seq
        seq += 1
        if scenario.endswith("hot"):
            src, dst = hot, rng.choice(spread)
            if rng.random() < 0.5:
                src, dst = dst, src
        else:
            src, dst = rng.sample(spread, 2)
        return ledger.transfer(
            kind="bench",
            idempotency_key=f"{run}-{index}-{seq}",
            source=src,
            destination=dst,
            amount=rng.randint(1, 1000),
        )

    start.wait()
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if batched:
            ledger.post_batch(org, [spec() for _ in range(BATCH)])
            done += BATCH
        else:
            ledger.post(org, spec())
            done += 1
    out.put(done)


def _close_connections() -> None:
    """Forked clients must not inherit the parent's sockets (or its connection pool's)."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()
        close_pool = getattr(conn, "close_pool", None)
        if close_pool is not None:
            close_pool()


def run_scenario(
    url: str, setup: dict[str, Any], scenario: str, clients: int, seconds: float
) -> float:
    _close_connections()
    ctx = mp.get_context("fork")
    start = ctx.Barrier(clients + 1)
    out = ctx.Queue()
    # Every run posts fresh idempotency keys: a key posted by an earlier run would be a
    # replay, which is a different (slower) path than the one measured.
    run = f"{scenario}@{clients}@{time.time_ns()}"
    procs = [
        ctx.Process(target=client, args=(url, setup, run, i, seconds, start, out))
        for i in range(clients)
    ]
    for proc in procs:
        proc.start()
    start.wait()
    began = time.perf_counter()
    total = sum(out.get(timeout=seconds + 120) for _ in procs)
    elapsed = max(time.perf_counter() - began, seconds)
    for proc in procs:
        proc.join()
    return round(total / elapsed, 1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "KASSA_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/kassa_bench"
        ),
    )
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument(
        "--scenarios",
        default="single_spread,single_hot,batch_spread,batch_hot",
        help="comma-separated subset of the scenarios",
    )
    args = parser.parse_args()
    setup = setup_database(args.database_url)
    results: dict[str, Any] = {}
    for scenario in args.scenarios.split(","):
        for clients in (int(c) for c in args.clients.split(",")):
            rate = run_scenario(args.database_url, setup, scenario, clients, args.seconds)
            results[f"{scenario}@{clients}"] = rate
            print(
                f"{scenario:<14} {clients:>3} clients: {rate:>10,.0f} transfers/s", file=sys.stderr
            )

    from kassa.ledger.verify import verify

    problems = verify()
    targets = {"single_spread": 1500, "batch_spread": 10_000, "batch_hot": 5000}
    report = {
        "benchmark": "ledger",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "db_fastpath": fastpath_mode(),
        },
        "seconds_per_run": args.seconds,
        "transfers_per_second": results,
        "targets": targets,
        # At each client count on its own: a target met at 8 clients and missed at 32 is
        # reported as missed at 32.
        "targets_met": {
            run: rate >= targets[run.split("@")[0]]
            for run, rate in results.items()
            if run.split("@")[0] in targets
        },
        "ledger_verified": not problems,
    }
    print(json.dumps(report, indent=2))
    _close_connections()
    if not args.keep:
        name = urlsplit(args.database_url).path.lstrip("/")
        with _admin_connect(args.database_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
