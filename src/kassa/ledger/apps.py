from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "kassa.ledger"
    label = "ledger"
