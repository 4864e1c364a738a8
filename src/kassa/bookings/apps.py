from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "kassa.bookings"
    label = "bookings"
    verbose_name = "Bookings"

    def ready(self) -> None:
        from kassa.bookings import demo, events, purposes, tasks  # noqa: F401  (registrations)
        from kassa.bookings.admin_dashboard import register_cards
        from kassa.bookings.notifications import register_types

        register_types()
        register_cards()
