"""`kassa worker`: several threads running django-tasks-db's worker loop, a heartbeat, and
the recovery of tasks whose worker died.

django-tasks-db marks a task RUNNING when a worker claims it and leaves it so if that worker
is killed. Each `kassa worker` process therefore writes a heartbeat every few seconds; a
RUNNING task claimed by a process whose heartbeat has stopped is put back in the queue. Tasks
take ids, reload and do nothing when the work is already done, so running one again is safe.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import close_old_connections, connection
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from kassa.platform.models import WorkerHeartbeat

logger = logging.getLogger("kassa.worker")

HEARTBEAT_EVERY = 5.0
ORPHAN_AFTER = timedelta(seconds=30)

# Long-running loops that apps run inside every worker process besides the task threads (the
# webhook dispatcher). Each is called as service(stop, worker_id) in its own thread and returns
# once `stop` is set. Apps register theirs from AppConfig.ready().
WorkerService = Callable[[threading.Event, str], None]
_services: dict[str, WorkerService] = {}


def register_service(name: str, service: WorkerService) -> None:
    _services[name] = service


def recover_orphaned_tasks(now: datetime | None = None) -> int:
    """Put RUNNING tasks of dead workers back in the queue; return how many."""
    now = now or timezone.now()
    WorkerHeartbeat.objects.filter(last_seen__lt=now - ORPHAN_AFTER).delete()
    alive = set(WorkerHeartbeat.objects.values_list("worker_id", flat=True))
    recovered = 0
    for pk, worker_ids in DBTaskResult.objects.filter(status="RUNNING").values_list(
        "pk", "worker_ids"
    ):
        owner = (worker_ids or [""])[-1].rsplit(".", 1)[0]
        if owner in alive:
            continue
        recovered += DBTaskResult.objects.filter(pk=pk, status="RUNNING").update(
            status="READY", started_at=None
        )
    if recovered:
        logger.warning("requeued %d tasks of stopped workers", recovered)
    return recovered


class KassaWorker:
    def __init__(self, *, threads: int = 4, queues: list[str] | None = None, interval: float = 0.5):
        self.threads = threads
        self.queues = queues or ["*"]
        self.interval = interval
        self.worker_id = f"{socket.gethostname()[:30]}-{os.getpid()}-{secrets.token_hex(3)}"
        self._loops: list[Worker] = []
        self._threads: list[threading.Thread] = []
        self._service_threads: list[threading.Thread] = []

    def _beat(self) -> None:
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={
                "hostname": socket.gethostname()[:200],
                "pid": os.getpid(),
                "last_seen": timezone.now(),
            },
        )

    def _run_loop(self, loop: Worker) -> None:
        try:
            loop.run()
        finally:
            connection.close()

    def run(self, stop: threading.Event) -> None:
        self._beat()
        recover_orphaned_tasks()
        for n in range(self.threads):
            loop = Worker(
                queue_names=self.queues,
                interval=self.interval,
                batch=False,
                backend_name="default",
                startup_delay=False,
                max_tasks=None,
                worker_id=f"{self.worker_id}.{n}",
                excluded_queue_names=[],
            )
            thread = threading.Thread(target=self._run_loop, args=(loop,), daemon=True)
            self._loops.append(loop)
            self._threads.append(thread)
            thread.start()
        for name, service in sorted(_services.items()):
            thread = threading.Thread(
                target=service, args=(stop, self.worker_id), name=name, daemon=True
            )
            self._service_threads.append(thread)
            thread.start()
        logger.info("worker %s started with %d threads", self.worker_id, self.threads)
        while not stop.wait(HEARTBEAT_EVERY):
            close_old_connections()
            try:
                self._beat()
                recover_orphaned_tasks()
            except Exception:
                logger.exception("heartbeat failed; retrying")
        self.shutdown()

    def shutdown(self) -> None:
        for loop in self._loops:
            loop.running = False
        for thread in self._threads + self._service_threads:
            thread.join(timeout=self.interval + 30)
        WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete()
        logger.info("worker %s stopped", self.worker_id)
