"""Core background jobs."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task

from kassa.core.idempotency import prune_expired
from kassa.platform import periodic


@task()
def prune_idempotency_keys() -> int:
    """Delete idempotency records older than 24 hours."""
    return prune_expired()


periodic.register("core.prune_idempotency_keys", prune_idempotency_keys, timedelta(hours=1))
