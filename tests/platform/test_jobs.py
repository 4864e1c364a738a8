"""The scheduler (periodic jobs that catch up, enqueued once) and the worker (crash recovery)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from kassa.platform import scheduler
from kassa.platform.models import PeriodicJobState, WorkerHeartbeat
from kassa.platform.worker import recover_orphaned_tasks
from tests.platform.crash_tasks import slow_touch

JOB = "core.prune_idempotency_keys"


def prune_tasks() -> int:
    return DBTaskResult.objects.filter(task_path__endswith="prune_idempotency_keys").count()


@pytest.mark.django_db
def test_tick_enqueues_due_jobs_once_per_period() -> None:
    now = timezone.now()
    assert JOB in scheduler.tick(now)
    assert JOB not in scheduler.tick(now + timedelta(minutes=5))
    assert prune_tasks() == 1
    assert JOB in scheduler.tick(now + timedelta(hours=1, seconds=1))
    assert prune_tasks() == 2


@pytest.mark.django_db
def test_a_job_missed_during_downtime_runs_once_at_start() -> None:
    now = timezone.now()
    PeriodicJobState.objects.create(name=JOB, next_run_at=now - timedelta(days=3))
    assert JOB in scheduler.tick(now)
    assert prune_tasks() == 1  # not one per missed hour
    assert PeriodicJobState.objects.get(name=JOB).next_run_at == now + timedelta(hours=1)


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_enqueue_once() -> None:
    now = timezone.now()
    PeriodicJobState.objects.create(name=JOB, next_run_at=now - timedelta(seconds=1))
    barrier = threading.Barrier(4)
    results: list[list[str]] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(scheduler.tick(now))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(JOB in r for r in results) == 1
    assert prune_tasks() == 1


@pytest.mark.django_db
def test_orphaned_tasks_are_requeued_only_when_their_worker_is_gone() -> None:
    live = slow_touch.enqueue("/dev/null", 0).id
    dead = slow_touch.enqueue("/dev/null", 0).id
    WorkerHeartbeat.objects.create(worker_id="alive-1", hostname="h", pid=1)
    DBTaskResult.objects.filter(pk=live).update(status="RUNNING", worker_ids=["alive-1.0"])
    DBTaskResult.objects.filter(pk=dead).update(status="RUNNING", worker_ids=["gone-2.3"])
    assert recover_orphaned_tasks() == 1
    assert DBTaskResult.objects.get(pk=live).status == "RUNNING"
    assert DBTaskResult.objects.get(pk=dead).status == "READY"


def _database_env() -> dict[str, str]:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{settings['NAME']}"
    else:
        url = f"postgresql://{settings['USER']}@{settings['HOST'] or 'localhost'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    return {**os.environ, "KASSA_DATABASE_URL": url}


def _start_worker() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kassa", "worker", "--threads", "2", "--interval", "0.1"],
        env=_database_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for(predicate: object, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.django_db(transaction=True)
def test_a_task_survives_kill_9_of_its_worker(tmp_path: Path) -> None:
    marker = tmp_path / "done"
    result = slow_touch.enqueue(str(marker), 2.0)
    first = _start_worker()
    try:
        _wait_for(lambda: DBTaskResult.objects.get(pk=result.id).status == "RUNNING")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert not marker.exists()
    assert DBTaskResult.objects.get(pk=result.id).status == "RUNNING"
    # Time passes: the dead worker's heartbeat goes stale.
    WorkerHeartbeat.objects.update(last_seen=timezone.now() - timedelta(minutes=5))
    second = _start_worker()
    try:
        _wait_for(lambda: DBTaskResult.objects.get(pk=result.id).status == "SUCCESSFUL")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=40)
    assert marker.read_text() == "done"
    assert second.returncode == 0
    assert not WorkerHeartbeat.objects.exclude(
        last_seen__lt=timezone.now() - timedelta(minutes=1)
    ).exists()
