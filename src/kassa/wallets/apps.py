from django.apps import AppConfig


class WalletsConfig(AppConfig):
    name = "kassa.wallets"
    label = "wallets"
