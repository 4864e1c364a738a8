from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "kassa.portal"
    label = "portal"
    verbose_name = "Customer portal"

    def ready(self) -> None:
        from kassa.notifications.services import register_type

        register_type(
            "portal.sign_in_link",
            label="Portal sign-in link",
            template="portal/email/sign_in_link",
            channels=("email",),
        )
