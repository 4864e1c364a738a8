"""Template helpers for the customer's payment pages."""

from __future__ import annotations

from typing import Protocol

from django import template
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

register = template.Library()


class Failed(Protocol):
    """A payment, or a wallet's auto top-up attempt."""

    failure_code: str
    failure_message: str


# Why a payment failed, as the customer reads it: by the failure's code, since the provider's
# own message is English (Stripe's, the sandbox's) or meant for staff (a manual failure).
FAILURE_TEXTS = {
    "card_declined": gettext_noop("The card was declined."),
    "insufficient_funds": gettext_noop("The card has insufficient funds."),
    "authentication_required": gettext_noop("The card requires authentication."),
    "expired_card": gettext_noop("The card has expired."),
    "incorrect_cvc": gettext_noop("The card's security code is incorrect."),
    "processing_error": gettext_noop("The card could not be processed. Please try again."),
}
GENERIC = gettext_noop("The payment provider did not accept the payment.")


@register.filter
def failure_text(payment: Failed | None) -> str:
    """The reason a payment failed, in the page's language; "" when there is none."""
    if payment is None or not (payment.failure_code or payment.failure_message):
        return ""
    known = FAILURE_TEXTS.get(payment.failure_code)
    if known is not None:
        return gettext(known)
    message = payment.failure_message
    translated = gettext(message) if message else ""
    english = (translation.get_language() or "en").split("-")[0] == "en"
    if translated and (translated != message or english):
        return translated
    return gettext(GENERIC)
