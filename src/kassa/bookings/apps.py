from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "kassa.bookings"
    label = "bookings"
