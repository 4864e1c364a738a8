from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "kassa.platform"
    label = "platform"
    verbose_name = "Kassa platform"
