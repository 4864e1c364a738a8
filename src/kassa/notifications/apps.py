from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _make_vapid_keys(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    # The first start (`kassa serve` and `kassa migrate` migrate) makes the Web Push key pair,
    # so the portal can hand browsers the application server key from the first request on.
    if using != "default":
        return
    from kassa.notifications import webpush

    webpush.keys()


class NotificationsConfig(AppConfig):
    name = "kassa.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from kassa.notifications import endpoint_alerts, tasks  # noqa: F401  (registrations)

        endpoint_alerts.connect()

        post_migrate.connect(_make_vapid_keys, sender=self)
