from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "kassa.events"
    label = "events"

    def ready(self) -> None:
        from kassa.core.publishing import register_publisher
        from kassa.events import tasks  # noqa: F401  (registers the periodic prune)
        from kassa.events.dispatcher import run_dispatchers
        from kassa.events.services import emit, on_event
        from kassa.events.webhooks import fan_out
        from kassa.platform.worker import register_service

        # Core and customers publish their events through kassa.core.publishing (they may not
        # import this app); the events are written here, in the publisher's transaction.
        register_publisher(emit)
        on_event(fan_out)

        from kassa.events.models import WebhookEndpoint
        from kassa.platform.hotcache import clear_on_change

        clear_on_change(WebhookEndpoint, "webhook_endpoints")
        register_service("webhooks.dispatcher", run_dispatchers)
