"""What Kassa writes on Stripe's objects and how Stripe's objects map onto ours.

Our ids travel in the metadata of Checkout Sessions, PaymentIntents and Refunds (the keys
below); Stripe's statuses map onto our outcomes here, and every SDK error a call raises becomes
one `GatewayError`. No calls to Stripe: the connector makes them, webhooks.py reads events.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import stripe

from kassa.payments.gateways.base import GatewayError, Outcome, RefundOutcome, StatusResult

logger = logging.getLogger("kassa.payments.stripe")

PAYMENT_KEY = "kassa_payment_id"
REFUND_KEY = "kassa_refund_id"
FLOW_KEY = "kassa_flow"  # "checkout" or "off_session", on the PaymentIntent

_PI_OUTCOMES = {
    "succeeded": Outcome.SUCCEEDED,
    "processing": Outcome.PROCESSING,
    "requires_action": Outcome.REQUIRES_ACTION,
    "canceled": Outcome.CANCELED,
}
REFUND_OUTCOMES = {
    "succeeded": RefundOutcome.SUCCEEDED,
    "failed": RefundOutcome.FAILED,
    "canceled": RefundOutcome.FAILED,
}


def id_of(value: Any) -> str | None:
    """An expandable field: an id string, an object with an id, or nothing."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        found = value.get("id")
        return str(found) if found else None
    found = getattr(value, "id", None)
    return str(found) if found else None


def intent_outcome(intent: Any) -> Outcome:
    status = str(intent.status)
    if status in _PI_OUTCOMES:
        return _PI_OUTCOMES[status]
    if status == "requires_payment_method" and intent_failure_code(intent):
        if intent_failure_code(intent) == "authentication_required":
            return Outcome.REQUIRES_ACTION
        return Outcome.FAILED
    return Outcome.PENDING


def intent_failure_code(intent: Any) -> str | None:
    error = getattr(intent, "last_payment_error", None)
    if not error:
        return None
    return getattr(error, "decline_code", None) or getattr(error, "code", None)


def intent_status(intent: Any) -> StatusResult:
    metadata = getattr(intent, "metadata", None) or {}
    outcome = intent_outcome(intent)
    if outcome == Outcome.FAILED and metadata.get(FLOW_KEY) != "off_session":
        outcome = Outcome.PENDING  # a Checkout Session may still be paid with another card
    error = getattr(intent, "last_payment_error", None)
    return StatusResult(
        outcome,
        gateway_reference=intent.id,
        amount=intent.amount_received if outcome == Outcome.SUCCEEDED else None,
        currency=str(intent.currency).upper(),
        failure_code=intent_failure_code(intent),
        failure_message=getattr(error, "message", None) if error else None,
    )


def gateway_error(exc: stripe.StripeError) -> GatewayError:
    logger.warning("stripe: %s (%s)", type(exc).__name__, exc.user_message or exc)
    return GatewayError(f"Stripe: {exc.user_message or type(exc).__name__}")
