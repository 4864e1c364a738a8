"""Signed webhook deliveries per second, on PostgreSQL, with two `kassa worker` processes.

    .venv/bin/python bench/webhooks.py [--events 20000] [--workers 2] [--endpoints 4]

Creates (and drops) its own database, creates an organization with `--endpoints` webhook
endpoints subscribed to every event, all pointing at a local receiver (in its own
process) that verifies every delivery with the `standardwebhooks` library. Writes `--events`
events in bulk (so events x endpoints deliveries wait in the outbox), then starts the workers and
measures until every delivery has succeeded. Prints JSON: deliveries per second between the
receiver's first and last request, and over the whole run including worker start-up;
signature failures; latency of the receiver-side arrival after emit for a trickle phase.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(__file__))
from _server import fastpath_mode
from ledger import _admin_connect

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/kassa_bench_webhooks"


# ---------------------------------------------------------------- the receiver process


def serve_receiver(port: int, secrets_file: str) -> None:
    """A small HTTP/1.1 server on asyncio + httptools (lighter than a framework, so the
    receiver takes less of the machine's CPU from the workers being measured): verifies each
    delivery with `standardwebhooks`, counts, answers 204. GET /stats and /arrivals report."""
    import asyncio

    import httptools
    from standardwebhooks import Webhook, WebhookVerificationError

    with open(secrets_file) as handle:
        signers = [Webhook(line.strip()) for line in handle if line.strip()]
    stats: dict[str, Any] = {"received": 0, "verified": 0, "failed": 0, "first": None, "last": 0.0}
    ids: set[tuple[str, str]] = set()
    arrivals: dict[str, float] = {}

    class Connection(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.parser = httptools.HttpRequestParser(self)
            self.reset()

        def reset(self) -> None:
            self.url = b""
            self.headers: dict[str, str] = {}
            self.body: list[bytes] = []

        def data_received(self, data: bytes) -> None:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                self.transport.close()

        def on_url(self, url: bytes) -> None:
            self.url += url

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers[name.decode().lower()] = value.decode()

        def on_body(self, body: bytes) -> None:
            self.body.append(body)

        def on_message_complete(self) -> None:
            path = self.url.decode()
            if path.startswith("/hooks/"):
                self.hook(path, b"".join(self.body))
                self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            else:
                data = stats | {"unique": len(ids)} if path == "/stats" else arrivals
                payload = json.dumps(data).encode()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
            if not self.parser.should_keep_alive():
                self.transport.close()
            self.reset()

        def hook(self, path: str, body: bytes) -> None:
            now = time.time()
            stats["received"] += 1
            stats["first"] = stats["first"] or now
            stats["last"] = now
            endpoint = path.rsplit("/", 1)[1]
            try:
                signers[int(endpoint)].verify(body, self.headers, json_parse=False)
                stats["verified"] += 1
            except (WebhookVerificationError, ValueError, IndexError):
                stats["failed"] += 1
            message_id = self.headers.get("webhook-id", "")
            ids.add((endpoint, message_id))
            arrivals.setdefault(message_id, now)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Connection, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


# ---------------------------------------------------------------- the run


def setup(url: str, endpoints: int, receiver_port: int, secrets_file: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    with _admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "KASSA_DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "kassa", "migrate"], env=env, check=True, capture_output=True
    )
    os.environ["KASSA_DATABASE_URL"] = url
    os.environ["KASSA_ALLOW_PRIVATE_WEBHOOK_URLS"] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kassa.settings")
    import django

    django.setup()
    from kassa.core.actors import Actor
    from kassa.core.services import create_organization
    from kassa.events.webhooks import create_endpoint

    org = create_organization(name="Bench", actor=Actor.system("bench"), currency="UZS")
    secrets = []
    for n in range(endpoints):
        _, secret = create_endpoint(
            org,
            url=f"http://127.0.0.1:{receiver_port}/hooks/{n}",
            enabled_events=["*"],
            livemode=False,
            actor=Actor.system("bench"),
        )
        secrets.append(secret)
    with open(secrets_file, "w") as handle:
        handle.write("\n".join(secrets) + "\n")
    return org.id


def emit_events(organization_id: str, count: int) -> list[str]:
    """Events through the real `emit` (one transaction per 500), for the latency phase."""
    from django.db import transaction

    from kassa.events.services import emit

    ids = []
    for start in range(0, count, 500):
        with transaction.atomic():
            for n in range(start, min(count, start + 500)):
                customer = {"id": f"cus_bench{n}", "object": "customer", "name": f"Customer {n}"}
                ids.append(emit(organization_id, "customer.created", customer).id)
    return ids


def fill_outbox(organization_id: str, count: int) -> None:
    """The rows `emit` writes (an event, one pending delivery per endpoint), inserted in bulk so
    that a large backlog is quick to set up; delivery, which is measured, is the same."""
    from django.db import transaction
    from django.utils import timezone

    from kassa.events.models import Event, WebhookDelivery, WebhookEndpoint

    endpoints = list(WebhookEndpoint.objects.filter(organization_id=organization_id))
    for start in range(0, count, 2000):
        now = timezone.now()
        with transaction.atomic():
            events = Event.objects.bulk_create(
                [
                    Event(
                        organization_id=organization_id,
                        type="customer.created",
                        object_id=f"cus_bench{n}",
                        data={
                            "object": {
                                "id": f"cus_bench{n}",
                                "object": "customer",
                                "name": f"Customer {n}",
                            }
                        },
                        created_at=now,
                    )
                    for n in range(start, min(count, start + 2000))
                ]
            )
            WebhookDelivery.objects.bulk_create(
                [
                    WebhookDelivery(
                        organization_id=organization_id,
                        endpoint=endpoint,
                        event=event,
                        next_attempt_at=now,
                    )
                    for event in events
                    for endpoint in endpoints
                ]
            )


def stats(port: int, path: str = "stats") -> dict[str, Any]:
    import httpx

    result: dict[str, Any] = httpx.get(f"http://127.0.0.1:{port}/{path}", timeout=30).json()
    return result


def start_workers(url: str, count: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "KASSA_DATABASE_URL": url, "KASSA_ALLOW_PRIVATE_WEBHOOK_URLS": "1"}
    return [
        subprocess.Popen(
            [sys.executable, "-m", "kassa", "worker", "--threads", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc), for a load-independent figure."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_pids() -> list[int]:
    """The database's server processes other than this one's (the workers' connections)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return [int(row[0]) for row in cursor.fetchall()]


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=os.environ.get("KASSA_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trickle", type=int, default=200, help="events for the latency phase")
    parser.add_argument("--receiver-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--secrets-file", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver_port and args.secrets_file:
        serve_receiver(args.receiver_port, args.secrets_file)
        return

    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    handle, secrets_file = tempfile.mkstemp(prefix="kassa-bench-webhooks-", suffix=".secrets")
    os.close(handle)
    organization_id = setup(args.url, args.endpoints, port, secrets_file)
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--receiver-port", str(port), "--secrets-file", secrets_file]
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        import httpx

        if not wait_until(lambda: _up(port, httpx), 30):
            raise SystemExit("the receiver did not start")
        fill_outbox(organization_id, args.events)
        expected = args.events * args.endpoints

        from kassa.events.models import DeliveryStatus, WebhookDelivery

        started = time.time()
        workers = start_workers(args.url, args.workers)
        done = wait_until(lambda: stats(port)["verified"] + stats(port)["failed"] >= expected, 600)
        finished = time.time()
        worker_cpu = sum(cpu_seconds(w.pid) for w in workers)
        database_cpu = sum(cpu_seconds(pid) for pid in backend_pids())
        receiver_cpu = cpu_seconds(receiver.pid)
        burst = stats(port)
        first, last = burst["first"] or started, burst["last"] or finished
        succeeded = WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count()

        # Latency: events emitted one at a time into running workers.
        emitted_at: dict[str, float] = {}
        for _ in range(args.trickle):
            (event_id,) = emit_events(organization_id, 1)
            emitted_at[event_id] = time.time()
            time.sleep(0.01)
        wait_until(lambda: stats(port)["received"] >= expected + args.trickle * args.endpoints, 120)
        arrivals = stats(port, "arrivals")
        latencies = sorted((arrivals[e] - t) * 1000 for e, t in emitted_at.items() if e in arrivals)
        final = stats(port)
    finally:
        stop_all(workers)
        receiver.terminate()
        receiver.wait(timeout=10)
        if os.path.exists(secrets_file):
            os.remove(secrets_file)
    result = {
        "benchmark": "webhooks",
        "database": "postgresql",
        "workers": args.workers,
        "endpoints": args.endpoints,
        "events": args.events,
        "deliveries": expected,
        "all_delivered": done and succeeded == expected,
        "deliveries_per_second": round(expected / max(last - first, 1e-9), 1),
        "deliveries_per_second_including_startup": round(expected / (finished - started), 1),
        "worker_cpu_ms_per_delivery": round(worker_cpu * 1000 / expected, 3),
        "receiver_cpu_ms_per_delivery": round(receiver_cpu * 1000 / expected, 3),
        # The PostgreSQL backends serving the workers (same machine).
        "database_cpu_ms_per_delivery": round(database_cpu * 1000 / expected, 3),
        # What two idle cores could sustain at these CPU costs (workers + receiver + database).
        "cpu_bound_estimate_per_second_on_2_idle_cores": round(
            2000 / ((worker_cpu + receiver_cpu + database_cpu) * 1000 / expected), 1
        ),
        "signature_failures": final["failed"],
        "verified": final["verified"],
        "duplicates": final["received"] - final["unique"],
        "latency_ms_p50": round(latencies[len(latencies) // 2], 1) if latencies else None,
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1], 1)
        if latencies
        else None,
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "db_fastpath": fastpath_mode(),
    }
    print(json.dumps(result, indent=2))


def _up(port: int, httpx: Any) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/stats", timeout=1)
    except httpx.HTTPError:
        return False
    return True


if __name__ == "__main__":
    main()
