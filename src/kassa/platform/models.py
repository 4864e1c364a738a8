"""The state of the worker and scheduler processes.

Both tables were created by `core`'s first migration and keep their names (`core_*`): the
models moved here with the processes that use them (migrations core 0004 and platform 0001
change Django's state only).
"""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now


class PeriodicJobState(models.Model):
    """When each periodic job last ran and is next due; the scheduler's only state."""

    name = models.CharField(max_length=100, primary_key=True)
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "core_periodicjobstate"

    def __str__(self) -> str:
        return self.name


class WorkerHeartbeat(models.Model):
    """A running `kassa worker` process; a task claimed by a worker whose heartbeat has
    stopped is handed back to the queue."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=200)
    pid = models.IntegerField()
    started_at = models.DateTimeField(default=now)
    last_seen = models.DateTimeField(default=now, db_index=True)

    class Meta:
        db_table = "core_workerheartbeat"

    def __str__(self) -> str:
        return self.worker_id
