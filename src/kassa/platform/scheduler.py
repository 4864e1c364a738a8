"""`kassa scheduler`: enqueue each periodic job when it is due.

Each job's next due time is a row; a tick claims a due job with a compare-and-set UPDATE and
enqueues its task in the same transaction, so any number of schedulers can run and a job is
still enqueued once per period. A job that fell due during downtime runs at the first tick
after start; the jobs themselves process everything outstanding, which is how they catch up.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from django.db import close_old_connections, transaction
from django.utils import timezone

from kassa.platform.models import PeriodicJobState
from kassa.platform.periodic import registered_jobs

logger = logging.getLogger("kassa.scheduler")


def tick(now: datetime | None = None) -> list[str]:
    """Enqueue every job that is due; return the names of those enqueued."""
    now = now or timezone.now()
    enqueued = []
    for job in registered_jobs():
        state, _ = PeriodicJobState.objects.get_or_create(
            name=job.name, defaults={"next_run_at": now}
        )
        if state.next_run_at > now:
            continue
        with transaction.atomic():
            won = PeriodicJobState.objects.filter(
                name=job.name, next_run_at=state.next_run_at
            ).update(next_run_at=now + job.every, last_run_at=now)
            if won:
                job.task.enqueue()
                enqueued.append(job.name)
    return enqueued


def run(stop: threading.Event, interval: float = 5.0) -> None:
    logger.info("scheduler started", extra={"jobs": [j.name for j in registered_jobs()]})
    while not stop.is_set():
        close_old_connections()
        try:
            for name in tick():
                logger.info("periodic job enqueued: %s", name)
        except Exception:
            logger.exception("scheduler tick failed; retrying")
        stop.wait(interval)
    close_old_connections()
