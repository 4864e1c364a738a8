from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "kassa.events"
    label = "events"
