from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "kassa.customers"
    label = "customers"
    verbose_name = "Customers"
