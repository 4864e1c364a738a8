from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "kassa.notifications"
    label = "notifications"
