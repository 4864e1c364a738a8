"""The customer is asked to confirm an off-session payment their bank held back.

When a saved card is charged without the customer (off-session) and the bank asks for
authentication (Stripe's `authentication_required`, the sandbox's 3-D Secure card), the
payment waits in `requires_action` and nobody retries it. The customer gets an email with the
payment's checkout link, where they pay on-session. The notification is stored in the same
transaction as the status change (an `emit` listener), once per payment.

Purposes that write their own message (a wallet's automatic top-up) are left to it.
"""

from __future__ import annotations

from kassa.core.money import format_money
from kassa.events.models import Event
from kassa.events.services import on_event
from kassa.notifications.services import notify, register_type
from kassa.payments.links import checkout_url
from kassa.payments.models import Payment

ACTION_REQUIRED = "payment.action_required"
_OWN_MESSAGES = {"generic"}  # purposes whose customers get this message

register_type(
    ACTION_REQUIRED,
    label="Confirm a payment",
    template="payments/notifications/action_required",
)


def _ask_customer(event: Event) -> None:
    if event.type != "payment.requires_action":
        return
    payment = (
        Payment.objects.select_related("customer", "organization")
        .filter(pk=event.object_id, off_session=True, customer__isnull=False)
        .first()
    )
    if payment is None or payment.purpose not in _OWN_MESSAGES or payment.customer is None:
        return
    locale = payment.customer.preferred_locale
    notify(
        payment.organization_id,
        ACTION_REQUIRED,
        customer_id=payment.customer_id,
        context={
            "payment_id": payment.id,
            "amount": format_money(payment.amount, payment.currency, locale),
            "merchant": payment.organization.name,
            "description": payment.description,
            "confirm_url": checkout_url(payment.id),
        },
        dedupe_key=f"{payment.id}:action_required",
    )


on_event(_ask_customer)
