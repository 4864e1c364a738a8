"""Core background jobs."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task

from kassa.core import signin_throttle
from kassa.core.idempotency import prune_expired
from kassa.platform import periodic


@task()
def prune_idempotency_keys() -> int:
    """Delete idempotency records older than 24 hours."""
    return prune_expired()


periodic.register("core.prune_idempotency_keys", prune_idempotency_keys, timedelta(hours=1))


@task()
def prune_sign_in_failures() -> int:
    """Delete failed staff sign-ins older than a day (the lockout counts the last 15 minutes)."""
    return signin_throttle.prune()


periodic.register("core.prune_sign_in_failures", prune_sign_in_failures, timedelta(hours=1))
