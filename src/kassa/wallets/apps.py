from django.apps import AppConfig


class WalletsConfig(AppConfig):
    name = "kassa.wallets"
    label = "wallets"

    def ready(self) -> None:
        from kassa.wallets.stream_publish import connect_receiver

        connect_receiver()
