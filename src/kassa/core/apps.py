from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "kassa.core"
    label = "core"
    verbose_name = "Kassa"

    def ready(self) -> None:
        from kassa.core import tasks  # noqa: F401  (registers periodic jobs)
