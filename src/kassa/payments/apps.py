from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "kassa.payments"
    label = "payments"
