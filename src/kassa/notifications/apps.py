from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "kassa.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from kassa.notifications import tasks  # noqa: F401  (registrations)
