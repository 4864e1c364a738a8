"""Sending webhook deliveries.

A delivery row is the outbox entry. A dispatcher (threads inside every `kassa worker`) repeats
three steps, none of them holding a transaction across the network:

1. claim: take up to N due rows with a lease (`lease_owner`, `lease_expires_at`; SKIP LOCKED
   on PostgreSQL: `kassa.events.repository.claim_due`) and commit;
2. send: POST them concurrently (kassa.platform.http_client: 15 s timeout each, no redirects,
   addresses re-checked against SSRF at connect time);
3. record: one transaction writes every attempt and moves each delivery on: 2xx succeeded,
   410 failed and the endpoint disabled, anything else retried on the schedule below or, after
   the last attempt, failed.

A worker killed between 1 and 3 leaves rows leased; when the lease runs out another dispatcher
claims them again, so every event is delivered at least once (receivers deduplicate on
`webhook-id`, the event id).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import ssl
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from kassa.core.representations import iso
from kassa.events.models import (
    DeliveryStatus,
    EndpointStatus,
    Event,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from kassa.events.repository import Claimed, claim_due
from kassa.events.representations import event_dict
from kassa.events.signals import endpoint_disabled
from kassa.events.signing import signature_header
from kassa.platform.http_client import HttpClient, RefusedAddress

logger = logging.getLogger("kassa.webhooks")

# The delay before each attempt: right away, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_DELAYS = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS)
TIMEOUT_SECONDS = 15.0
# Longer than the timeout plus the time to record a batch; a dead worker's rows wait this long.
LEASE = timedelta(seconds=60)
DISABLE_AFTER = timedelta(days=5)
RESPONSE_HEAD = 1024
MAX_RETRY_AFTER = timedelta(hours=24)
USER_AGENT = "Kassa-Webhooks/1"


@dataclass
class Outgoing:
    delivery_id: str
    endpoint_id: str
    organization_id: str
    attempt_count: int
    url: str
    body: bytes
    headers: dict[str, str]
    endpoint_failing: bool = False


@dataclass
class Outcome:
    status_code: int | None
    latency_ms: int
    body_head: str = ""
    error: str = ""
    retry_after: timedelta | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# ---------------------------------------------------------------- claim


def _body(row: Claimed) -> str:
    """The event as the API renders it (kassa.events.representations.event_dict), as compact JSON.
    From PostgreSQL `data` arrives as JSON text and is spliced in rather than re-encoded."""
    if isinstance(row.event_data, str):
        head = {
            "id": row.event_id,
            "object": "event",
            "type": row.event_type,
            "created": iso(row.event_created_at),
        }
        return json.dumps(head, separators=(",", ":"))[:-1] + ',"data":' + row.event_data + "}"
    event = Event(
        id=row.event_id, type=row.event_type, created_at=row.event_created_at, data=row.event_data
    )
    return json.dumps(event_dict(event), separators=(",", ":"), ensure_ascii=False)


def claim(owner: str, *, now: datetime, limit: int) -> list[Outgoing]:
    """Lease up to `limit` due deliveries to `owner` and build their signed requests."""
    token = f"{owner[:48]}:{secrets.token_hex(6)}"
    rows = claim_due(token, now=now, until=now + LEASE, limit=limit)
    sent_at = datetime.now(UTC).replace(microsecond=0)
    timestamp = str(int(sent_at.timestamp()))
    batch = []
    for row in rows:
        body = _body(row)
        signature = signature_header(
            msg_id=row.event_id,
            timestamp=sent_at,
            body=body,
            secret_encrypted=row.secret_encrypted,
            previous_secret_encrypted=row.previous_secret_encrypted,
            previous_expires_at=row.previous_secret_expires_at,
            now=now,
        )
        batch.append(
            Outgoing(
                delivery_id=row.delivery_id,
                endpoint_id=row.endpoint_id,
                organization_id=row.organization_id,
                attempt_count=row.attempt_count,
                url=row.url,
                body=body.encode(),
                endpoint_failing=row.endpoint_failing,
                headers={
                    "content-type": "application/json",
                    "user-agent": USER_AGENT,
                    "webhook-id": row.event_id,
                    "webhook-timestamp": timestamp,
                    "webhook-signature": signature,
                },
            )
        )
    return batch


# ---------------------------------------------------------------- send


def new_session(concurrency: int = 256) -> HttpClient:
    return HttpClient(concurrency=concurrency, user_agent=USER_AGENT)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """`Retry-After` as seconds or an HTTP date, bounded to [0, 24 h]."""
    if not value:
        return None
    value = value.strip()
    delay: timedelta | None
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            delay = parsedate_to_datetime(value) - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(timedelta(0), min(delay, MAX_RETRY_AFTER))


async def _send_one(session: HttpClient, item: Outgoing) -> Outcome:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            response = await session.post(
                item.url, item.body, item.headers, head_limit=RESPONSE_HEAD
            )
    except TimeoutError:
        error = f"timed out after {TIMEOUT_SECONDS:g} s"
    except RefusedAddress as exc:
        error = f"refused: {exc}"
    except (OSError, ValueError, ssl.SSLError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    else:
        retry_after = None
        if response.status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
        return Outcome(
            status_code=response.status,
            latency_ms=int((time.perf_counter() - started) * 1000),
            body_head=response.body_head.decode("utf-8", "replace"),
            retry_after=retry_after,
        )
    return Outcome(
        status_code=None, latency_ms=int((time.perf_counter() - started) * 1000), error=error[:300]
    )


async def send_all(session: HttpClient, batch: list[Outgoing]) -> list[Outcome]:
    return list(await asyncio.gather(*(_send_one(session, item) for item in batch)))


# ---------------------------------------------------------------- record


def next_attempt(
    attempts_made: int, now: datetime, retry_after: timedelta | None
) -> datetime | None:
    """When to try again after `attempts_made` attempts failed, or None when that was the
    last. A `Retry-After` longer than the schedule's next delay is honoured."""
    if attempts_made >= MAX_ATTEMPTS:
        return None
    delay = RETRY_DELAYS[attempts_made]
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return now + delay


def record(batch: list[Outgoing], outcomes: list[Outcome], *, now: datetime) -> None:
    """Store every attempt and move each delivery on, in one transaction."""
    succeeded: dict[int, list[str]] = defaultdict(list)
    ok_endpoints: set[str] = set()
    gone_endpoints: set[str] = set()
    failing_endpoints: set[str] = set()
    retried: list[WebhookDelivery] = []
    with transaction.atomic():
        WebhookAttempt.objects.bulk_create(
            [
                WebhookAttempt(
                    delivery_id=item.delivery_id,
                    attempted_at=now,
                    status_code=outcome.status_code,
                    latency_ms=outcome.latency_ms,
                    response_body=outcome.body_head,
                    error=outcome.error,
                    succeeded=outcome.succeeded,
                )
                for item, outcome in zip(batch, outcomes, strict=True)
            ]
        )
        for item, outcome in zip(batch, outcomes, strict=True):
            if outcome.succeeded:
                assert outcome.status_code is not None
                succeeded[outcome.status_code].append(item.delivery_id)
                if item.endpoint_failing:
                    ok_endpoints.add(item.endpoint_id)
                continue
            made = item.attempt_count + 1
            if outcome.status_code == 410:
                gone_endpoints.add(item.endpoint_id)
                when = None
            else:
                failing_endpoints.add(item.endpoint_id)
                when = next_attempt(made, now, outcome.retry_after)
            retried.append(
                WebhookDelivery(
                    id=item.delivery_id,
                    status=DeliveryStatus.PENDING if when else DeliveryStatus.FAILED,
                    attempt_count=made,
                    next_attempt_at=when,
                    last_attempt_at=now,
                    last_status_code=outcome.status_code,
                    lease_owner="",
                    lease_expires_at=None,
                )
            )
        for code, ids in succeeded.items():
            WebhookDelivery.objects.filter(id__in=ids).update(
                status=DeliveryStatus.SUCCEEDED,
                attempt_count=F("attempt_count") + 1,
                next_attempt_at=None,
                last_attempt_at=now,
                last_status_code=code,
                lease_owner="",
                lease_expires_at=None,
            )
        if retried:
            WebhookDelivery.objects.bulk_update(
                retried,
                [
                    "status",
                    "attempt_count",
                    "next_attempt_at",
                    "last_attempt_at",
                    "last_status_code",
                    "lease_owner",
                    "lease_expires_at",
                ],
            )
        if ok_endpoints:
            WebhookEndpoint.objects.filter(id__in=ok_endpoints, failing_since__isnull=False).update(
                failing_since=None
            )
        failing_endpoints -= ok_endpoints
        if failing_endpoints:
            WebhookEndpoint.objects.filter(
                id__in=failing_endpoints, failing_since__isnull=True
            ).update(failing_since=now)
            for endpoint_id in WebhookEndpoint.objects.filter(
                id__in=failing_endpoints,
                status=EndpointStatus.ENABLED,
                failing_since__lte=now - DISABLE_AFTER,
            ).values_list("id", flat=True):
                disable_automatically(endpoint_id, "failing", now=now)
        for endpoint_id in gone_endpoints:
            disable_automatically(endpoint_id, "gone", now=now)


def disable_automatically(endpoint_id: str, reason: str, *, now: datetime) -> bool:
    """Disable an endpoint the dispatcher gave up on; the organization's owners are emailed
    (kassa.notifications receives `endpoint_disabled`, in this transaction)."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
        if endpoint is None or endpoint.status != EndpointStatus.ENABLED:
            return False
        endpoint.status = EndpointStatus.DISABLED
        endpoint.disabled_reason = reason
        endpoint.updated_at = now
        endpoint.save(update_fields=["status", "disabled_reason", "updated_at"])
        endpoint_disabled.send(
            sender=WebhookEndpoint,
            organization_id=endpoint.organization_id,
            endpoint_id=endpoint.id,
            url=endpoint.url,
            reason=reason,
            failing_since=iso(endpoint.failing_since) if endpoint.failing_since else "",
            disabled_at=now,
        )
    logger.warning("webhook endpoint %s disabled (%s)", endpoint_id, reason)
    return True


# ---------------------------------------------------------------- loops


def deliver_due(
    *,
    now: datetime | None = None,
    limit: int = 500,
    owner: str = "inline",
    session_factory: Any = new_session,
) -> int:
    """Claim, send and record one batch in this thread; return how many were attempted.
    The tests drive delivery through this with a controllable clock."""
    now = now or timezone.now()
    batch = claim(owner, now=now, limit=limit)
    if not batch:
        return 0

    async def run() -> list[Outcome]:
        async with session_factory() as session:
            return await send_all(session, batch)

    outcomes = asyncio.run(run())
    record(batch, outcomes, now=now)
    return len(batch)


class Dispatcher:
    """One dispatcher thread: a private event loop and HTTP session, a claim-send-record loop,
    a short sleep when there is nothing due."""

    def __init__(
        self, owner: str, *, batch: int = 500, concurrency: int = 256, idle_wait: float = 0.2
    ) -> None:
        self.owner = owner
        self.batch = batch
        self.concurrency = concurrency
        self.idle_wait = idle_wait

    def step(self, loop: asyncio.AbstractEventLoop, session: HttpClient) -> int:
        now = timezone.now()
        batch = claim(self.owner, now=now, limit=self.batch)
        if not batch:
            return 0
        outcomes = loop.run_until_complete(send_all(session, batch))
        record(batch, outcomes, now=timezone.now())
        return len(batch)

    def run(self, stop: threading.Event) -> None:
        loop = asyncio.new_event_loop()

        async def open_session() -> HttpClient:
            return new_session(self.concurrency)

        session = loop.run_until_complete(open_session())
        logger.info("webhook dispatcher %s started", self.owner)
        try:
            while not stop.is_set():
                close_old_connections()
                try:
                    sent = self.step(loop, session)
                except Exception:
                    logger.exception("webhook dispatch failed; retrying")
                    stop.wait(1.0)
                    continue
                if not sent:
                    stop.wait(self.idle_wait)
        finally:
            loop.run_until_complete(session.close())
            loop.close()
            connection.close()


def run_dispatchers(stop: threading.Event, worker_id: str, count: int = 2) -> None:
    """A worker service (see kassa.platform.worker.register_service): `count` dispatcher threads,
    so one claims and records while another waits on the network."""
    threads = [
        threading.Thread(target=Dispatcher(f"{worker_id}.d{n}").run, args=(stop,), daemon=True)
        for n in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
