"""Background jobs of notifications."""

from __future__ import annotations

from django.tasks import task

from kassa.notifications import delivery


@task(queue_name="notifications")
def deliver_notification(notification_id: str) -> str:
    return delivery.deliver(notification_id)
