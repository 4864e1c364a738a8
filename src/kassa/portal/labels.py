"""Names of other apps' customer notification types, marked here so the portal's catalogue
translates them on the notification preferences page (the types register plain English)."""

from django.utils.translation import gettext_noop

NOTIFICATION_LABELS = [
    gettext_noop("Low wallet balance"),
    gettext_noop("Confirm an automatic top-up"),
    gettext_noop("Automatic top-up switched off"),
    gettext_noop("Booking balance reminder"),
    gettext_noop("Booking payment receipt"),
    gettext_noop("Booking paid in full"),
    gettext_noop("Confirm a payment"),
]
