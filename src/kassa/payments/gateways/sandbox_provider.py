"""The old dotted path of the sandbox provider's task, kept for tasks queued before the move.

django-tasks stores a task's dotted path (`task_path`) in its row; rows written by a version
from before gateways/sandbox/ still name `kassa.payments.gateways.sandbox_provider.deliver_event`,
and a worker resolves them through this module. Delete it once no such row can be left."""

from kassa.payments.gateways.sandbox.provider import deliver_event

__all__ = ["deliver_event"]
