"""The audit log: services call `record` inside the transaction of the change they audit."""

from __future__ import annotations

from typing import Any

from kassa.core.actors import Actor
from kassa.core.models import AuditLogEntry


def record(
    *,
    actor: Actor,
    action: str,
    organization_id: str | None,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    reason: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLogEntry:
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = object_id or str(obj.pk)
    return AuditLogEntry.objects.create(
        organization_id=organization_id,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label[:200],
        action=action,
        object_type=object_type,
        object_id=object_id,
        reason=reason,
        before=before,
        after=after,
        ip_address=actor.ip_address,
        user_agent=actor.user_agent,
    )
