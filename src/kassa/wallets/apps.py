from django.apps import AppConfig


class WalletsConfig(AppConfig):
    name = "kassa.wallets"
    label = "wallets"
    verbose_name = "Wallets"

    def ready(self) -> None:
        from kassa.wallets import demo, events, notifications, purposes, tasks  # noqa: F401
        from kassa.wallets.stream_publish import connect_receiver

        connect_receiver()
