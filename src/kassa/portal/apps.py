from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "kassa.portal"
    label = "portal"
