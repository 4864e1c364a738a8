"""Claiming deliveries: a lease makes a row one dispatcher's until it runs out; concurrent
dispatchers never take the same row."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, close_old_connections, connection
from django.utils import timezone

from kassa.events.dispatcher import LEASE, claim
from kassa.events.models import WebhookDelivery
from tests.conftest import ApiClient
from tests.events.conftest import create_endpoint
from tests.events.receiver import Receiver


def backlog(api: ApiClient, receiver: Receiver, events: int) -> None:
    create_endpoint(api, receiver)
    for n in range(events):
        api.post("/v1/customers", {"name": f"C{n}"})


@pytest.mark.django_db
def test_a_lease_excludes_others_until_it_runs_out(api: ApiClient, receiver: Receiver) -> None:
    backlog(api, receiver, 3)
    now = timezone.now()
    first = claim("a", now=now, limit=2)
    second = claim("b", now=now, limit=10)
    assert len(first) == 2 and len(second) == 1
    assert not {i.delivery_id for i in first} & {i.delivery_id for i in second}
    assert claim("c", now=now + LEASE - timedelta(seconds=1), limit=10) == []
    # The holders died: after the lease every row can be claimed again.
    again = claim("d", now=now + LEASE + timedelta(seconds=1), limit=10)
    assert len(again) == 3
    assert {i.headers["webhook-id"] for i in again} == set(
        WebhookDelivery.objects.values_list("event_id", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_claim_disjoint_rows(api: ApiClient, receiver: Receiver) -> None:
    backlog(api, receiver, 40)
    now = timezone.now()
    barrier = threading.Barrier(4)
    claimed: list[list[str]] = []
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            barrier.wait()
            claimed.append([i.delivery_id for i in claim(name, now=now, limit=15)])
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [i for batch in claimed for i in batch]
    assert len(ids) == len(set(ids))  # nobody got a row twice
    # SQLite may refuse a concurrent writer ("database is locked"); the dispatcher loop retries.
    assert all(isinstance(e, OperationalError) for e in errors), errors
    if connection.vendor == "postgresql":
        assert not errors and len(ids) == 40
