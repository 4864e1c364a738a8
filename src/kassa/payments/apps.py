from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "kassa.payments"
    label = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from kassa.payments import demo, events, notifications, tasks  # noqa: F401  (registrations)
        from kassa.payments.gateways.registry import load_connectors

        load_connectors()

        from kassa.payments.models import GatewayAccount
        from kassa.platform.hotcache import clear_on_change

        clear_on_change(GatewayAccount, "gateway_accounts", "gateway_accounts_by_id")
