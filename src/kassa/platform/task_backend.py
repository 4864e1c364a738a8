"""django-tasks-db's database backend, with the row of a new task written by
`kassa.platform.fastdb` on PostgreSQL's fast path (the backend's own `objects.create`
elsewhere: SQLite, or `KASSA_DB_FASTPATH=0`).

A task is enqueued inside nearly every change (the transactional outbox), and the backend's
`objects.create` was a fifth of the CPU of taking in a gateway event (docs/benchmarks.md). The
row written is the one the backend would write (same model, same fields and defaults), so its
worker claims and runs it unchanged.
"""

from __future__ import annotations

from typing import Any, cast

from django.tasks import Task
from django_tasks_db.backend import DatabaseBackend as BaseDatabaseBackend
from django_tasks_db.compat import normalize_json

from kassa.platform import fastdb


class DatabaseBackend(BaseDatabaseBackend):
    def _task_to_db_task(self, task: Task[Any, Any], args: Any, kwargs: Any) -> Any:
        if not fastdb.active():
            return super()._task_to_db_task(task, args, kwargs)
        from django_tasks_db.models import DBTaskResult

        row: Any = DBTaskResult(
            id=self._get_id(),
            args_kwargs=normalize_json({"args": args, "kwargs": kwargs}),
            priority=task.priority,
            task_path=task.module_path,
            queue_name=task.queue_name,
            run_after=cast(Any, task.run_after),  # None: the backend's pre_save fills it
            backend_name=self.alias,
        )
        fastdb.insert(row, defer=True)
        return row
