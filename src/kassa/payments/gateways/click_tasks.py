"""The old dotted path of Click's tasks, kept for tasks queued before the move.

django-tasks stores a task's dotted path (`task_path`) in its row; rows written by a version
from before gateways/click/ still name `kassa.payments.gateways.click_tasks.<task>`, and a
worker resolves them through this module. Delete it once no such row can be left."""

from kassa.payments.gateways.click.tasks import release_stale_click_reservations

__all__ = ["release_stale_click_reservations"]
