"""One web process driven past what it can serve: the bounded request queue against none.

    .venv/bin/python bench/overload.py [--seconds 10] [--clients 256] [--queue-limit 64]

Creates (and drops) its own database and starts `kassa serve` (one process, four request
threads) twice on it: once with the default queue limit, once with the limit so high that it is
never reached (the behaviour before the queue was bounded). Each time, many more concurrent
clients than the process can serve send `POST /v1/payments` on keep-alive connections for the
given time; a client that gets 503 waits for its Retry-After before it sends again, as a
well-behaved client does. Prints JSON: payments created per second, 503s per second, and the
latency of the created ones and of the 503s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from _http import Client
from _server import (
    KassaServer,
    analyze,
    drop_database,
    ensure_port_free,
    latency_summary,
    machine,
    run_clients,
    setup,
    uvloop_run,
)
from payments import prepare

UNBOUNDED = 100_000


async def drive(base: str, key: str, clients: int, seconds: float) -> dict[str, Any]:
    created: list[float] = []
    shed: list[float] = []
    other: list[str] = []
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        http = Client(base, {"Authorization": f"Bearer {key}"})
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            response = await http.request(
                "POST", "/v1/payments", {"amount": 150000, "currency": "UZS"}
            )
            took = (time.perf_counter() - start) * 1000
            if response.status == 200:
                created.append(took)
            elif response.status == 503:
                shed.append(took)
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            else:
                other.append(f"{response.status} {response.body[:100]!r}")
        http.close()

    elapsed = await run_clients(clients, client)
    return {
        "created_per_second": round(len(created) / elapsed, 1),
        "created": {**latency_summary(created), "max_ms": round(max(created, default=0), 1)},
        "shed_per_second": round(len(shed) / elapsed, 1),
        "shed": latency_summary(shed),
        "other_answers": len(other),
        "first_other": other[:3],
    }


def run(
    url: str, port: int, key: str, clients: int, seconds: float, limit: int, *, first: bool
) -> Any:
    env = {"KASSA_WEB_QUEUE_LIMIT": str(limit)}
    with KassaServer(url, port, workers=1, threads=4, env=env) as server:
        if first:
            uvloop_run(prepare(server.base, key))  # the sandbox gateway account
        uvloop_run(drive(server.base, key, 8, 2))  # warm up
        analyze(url)
        return uvloop_run(drive(server.base, key, clients, seconds))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=256)
    parser.add_argument("--queue-limit", type=int, default=64)
    parser.add_argument("--port", type=int, default=8641)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "KASSA_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/kassa_bench_overload"
        ),
    )
    args = parser.parse_args()
    ensure_port_free(args.port)
    key = setup(args.database_url)["api_key"]
    common = (args.database_url, args.port, key, args.clients, args.seconds)
    bounded = run(*common, args.queue_limit, first=True)
    unbounded = run(*common, UNBOUNDED, first=False)
    report = {
        "benchmark": "overload",
        "machine": machine(),
        "clients": args.clients,
        "web_workers": 1,
        "web_threads": 4,
        "seconds_per_run": args.seconds,
        "bounded": {"queue_limit": args.queue_limit, **bounded},
        "unbounded": unbounded,
    }
    print(json.dumps(report, indent=2))
    drop_database(args.database_url)
    return 0 if not bounded["other_answers"] and not unbounded["other_answers"] else 1


if __name__ == "__main__":
    sys.exit(main())
