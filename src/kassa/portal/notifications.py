"""The notification type the portal sends: the single-use sign-in link (queued by signin.py)."""

from kassa.notifications.services import register_type

register_type(
    "portal.sign_in_link",
    label="Portal sign-in link",
    template="portal/email/sign_in_link",
    channels=("email",),
)
