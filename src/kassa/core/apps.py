from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "kassa.core"
    label = "core"
    verbose_name = "Kassa"

    def ready(self) -> None:
        from kassa.core import tasks  # noqa: F401  (registers periodic jobs)
        from kassa.core.models import ApiKey, Organization
        from kassa.platform.hotcache import clear_on_change

        clear_on_change(ApiKey, "api_keys")
        clear_on_change(Organization, "api_keys")
