from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "kassa.portal"
    label = "portal"
    verbose_name = "Customer portal"

    def ready(self) -> None:
        from kassa.portal import notifications  # noqa: F401  (registrations)
