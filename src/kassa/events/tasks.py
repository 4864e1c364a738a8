"""Event background jobs: pruning the event log past its retention."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task

from kassa.events.services import prune_events
from kassa.platform import periodic


@task()
def prune() -> int:
    """Delete events older than KASSA_EVENT_RETENTION_DAYS, with their deliveries."""
    return prune_events()


periodic.register("events.prune", prune, timedelta(hours=1))
