"""A worker killed with SIGKILL in the middle of a delivery: the leased delivery is claimed
again once its lease runs out and delivered by the next worker (at least once)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from kassa.events.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from tests.conftest import ApiClient
from tests.events.conftest import create_endpoint
from tests.events.receiver import Receiver, Reply
from tests.platform.test_jobs import _database_env, _wait_for


def _start_worker() -> subprocess.Popen[bytes]:
    env = {**_database_env(), "KASSA_ALLOW_PRIVATE_WEBHOOK_URLS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "kassa", "worker", "--threads", "1", "--interval", "0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.django_db(transaction=True)
def test_a_delivery_survives_kill_9_of_its_worker(api: ApiClient, receiver: Receiver) -> None:
    arrived = threading.Event()
    receiver.on_request = lambda received: arrived.set()
    receiver.replies = [Reply(delay=20)]  # the first request hangs: the worker dies meanwhile
    create_endpoint(api, receiver)
    assert api.post("/v1/customers", {"name": "Ann"}).status_code == 200
    first = _start_worker()
    try:
        assert arrived.wait(60), "the first worker never sent the delivery"
        delivery = WebhookDelivery.objects.get()
        assert delivery.lease_owner and delivery.status == DeliveryStatus.PENDING
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.attempt_count == 0 and not WebhookAttempt.objects.exists()
    # Time passes: the dead worker's lease runs out.
    WebhookDelivery.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    second = _start_worker()
    try:
        _wait_for(
            lambda: WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED, timeout=60
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=40)
    assert second.returncode == 0
    assert len(receiver.received) == 2
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert receiver.all_verified()
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.succeeded
