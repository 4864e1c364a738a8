"""The old dotted path of OCTO's tasks, kept for tasks queued before the move.

django-tasks stores a task's dotted path (`task_path`) in its row; rows written by a version
from before gateways/octo/ still name `kassa.payments.gateways.octo_tasks.<task>`, and a
worker resolves them through this module. Delete it once no such row can be left."""

from kassa.payments.gateways.octo.tasks import poll_octo_holds, recheck_octo_refunds

__all__ = ["poll_octo_holds", "recheck_octo_refunds"]
