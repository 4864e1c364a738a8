"""Stripe's webhooks: `POST /hooks/stripe/<gateway account id>`, verified with the SDK's own
`Stripe-Signature` check (300 s tolerance, any of several v1 signatures) and normalized into
our events: Checkout Sessions, PaymentIntents and refunds; any other type is kept as "other".

Reading an event may need Stripe once (a saved card's details, a charge's refund list), through
the connector's client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import stripe

from kassa.payments.gateways.base import (
    AccountConfig,
    InboundRequest,
    NormalizedEvent,
    Outcome,
    RefundOutcome,
    SavedMethod,
    VerificationError,
)
from kassa.payments.gateways.stripe.protocol import (
    FLOW_KEY,
    PAYMENT_KEY,
    REFUND_KEY,
    REFUND_OUTCOMES,
    gateway_error,
    id_of,
)

logger = logging.getLogger("kassa.payments.stripe")

TOLERANCE_SECONDS = 300  # stripe.Webhook.DEFAULT_TOLERANCE

# The connector's StripeClient, made only when an event needs a call.
ClientFactory = Callable[[], stripe.StripeClient]


def parse_event(
    request: InboundRequest, account: AccountConfig, client: ClientFactory
) -> list[NormalizedEvent]:
    """The events of one verified webhook request (the connector's `parse_inbound`)."""
    header = request.headers.get("stripe-signature")
    if not header:
        raise VerificationError("missing Stripe-Signature header")
    try:
        payload = request.body.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            payload, header, account.credentials["webhook_secret"], TOLERANCE_SECONDS
        )
    except UnicodeDecodeError as exc:
        raise VerificationError("the body is not UTF-8") from exc
    except stripe.SignatureVerificationError as exc:
        raise VerificationError(str(exc.user_message or exc)) from exc
    try:
        event = json.loads(payload)
        event_id = str(event["id"])
        kind = str(event["type"])
        obj = event["data"]["object"]
        if not isinstance(obj, dict):
            raise TypeError("data.object is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise VerificationError(f"malformed event: {exc}") from exc
    if bool(event.get("livemode")) == account.test_mode:
        mode = "live" if event.get("livemode") else "test"
        raise VerificationError(f"a {mode}-mode event for a differently moded account")
    occurred = datetime.fromtimestamp(int(event.get("created") or 0), UTC)
    if kind.startswith("checkout.session."):
        return [_session_event(event_id, kind, obj, occurred)]
    if kind in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        return [_intent_event(event_id, kind, obj, occurred, client)]
    if kind == "charge.refunded":
        return _refund_events(event_id, kind, obj, occurred, client)
    return [NormalizedEvent(external_id=event_id, raw_type=kind, kind="other")]


def _intent_event(
    event_id: str,
    kind: str,
    intent: dict[str, Any],
    occurred: datetime,
    client: ClientFactory,
) -> NormalizedEvent:
    metadata = intent.get("metadata") or {}
    error = intent.get("last_payment_error") or {}
    outcome: Outcome
    if kind == "payment_intent.succeeded":
        outcome = Outcome.SUCCEEDED
    elif "authentication_required" in (error.get("code"), error.get("decline_code")):
        outcome = Outcome.REQUIRES_ACTION
    elif metadata.get(FLOW_KEY) == "off_session":
        outcome = Outcome.FAILED
    else:
        # A declined try inside an open Checkout Session: the customer may try again there.
        outcome = Outcome.PENDING
    saved = None
    if outcome == Outcome.SUCCEEDED and intent.get("setup_future_usage") and intent.get("customer"):
        saved = _saved_method(
            client, id_of(intent.get("payment_method")), id_of(intent.get("customer"))
        )
    amount = intent.get("amount_received") or intent.get("amount")
    return NormalizedEvent(
        external_id=event_id,
        raw_type=kind,
        kind="payment",
        outcome=outcome,
        payment_id=metadata.get(PAYMENT_KEY),
        gateway_reference=intent.get("id"),
        amount=amount if outcome == Outcome.SUCCEEDED else None,
        currency=str(intent.get("currency", "")).upper() or None,
        failure_code=(error.get("decline_code") or error.get("code")) if error else None,
        failure_message=error.get("message") if error else None,
        saved_method=saved,
        occurred_at=occurred,
    )


def _saved_method(
    client: ClientFactory, method_id: str | None, customer_id: str | None
) -> SavedMethod | None:
    """The card a checkout saved, with what the customer recognizes it by. Stripe's event
    names only its id; the details are one call away (best effort: a card without them
    can still be charged)."""
    if not method_id:
        return None
    card: Any = None
    try:
        card = client().v1.payment_methods.retrieve(method_id).card
    except stripe.StripeError as exc:
        logger.warning("stripe: no details for %s: %s", method_id, exc)
    return SavedMethod(
        gateway_reference=method_id,
        kind="card",
        brand=str(getattr(card, "brand", "") or ""),
        last4=str(getattr(card, "last4", "") or ""),
        exp_month=getattr(card, "exp_month", None),
        exp_year=getattr(card, "exp_year", None),
        gateway_customer_reference=customer_id,
    )


def _refund_events(
    event_id: str,
    kind: str,
    charge: dict[str, Any],
    occurred: datetime,
    client: ClientFactory,
) -> list[NormalizedEvent]:
    refunds = (charge.get("refunds") or {}).get("data")
    if refunds is None:
        # API versions since 2022-11-15 leave the refund list out of the Charge.
        try:
            listed = client().v1.refunds.list({"charge": charge["id"], "limit": 100})
        except stripe.StripeError as exc:
            raise gateway_error(exc) from exc
        refunds = [r.to_dict() for r in listed.data]
    metadata = charge.get("metadata") or {}
    events = []
    for refund in refunds:
        refund_meta = refund.get("metadata") or {}
        outcome = REFUND_OUTCOMES.get(refund.get("status", ""), RefundOutcome.PENDING)
        events.append(
            NormalizedEvent(
                # One Stripe event lists every refund of the charge so far.
                external_id=f"{event_id}/{refund['id']}",
                raw_type=kind,
                kind="refund",
                outcome=outcome,
                payment_id=refund_meta.get(PAYMENT_KEY) or metadata.get(PAYMENT_KEY),
                gateway_reference=id_of(charge.get("payment_intent")),
                refund_id=refund_meta.get(REFUND_KEY),
                refund_gateway_reference=refund["id"],
                amount=refund.get("amount"),
                currency=str(refund.get("currency", "")).upper() or None,
                failure_message=refund.get("failure_reason"),
                occurred_at=occurred,
            )
        )
    return events


def _session_event(
    event_id: str, kind: str, session: dict[str, Any], occurred: datetime
) -> NormalizedEvent:
    payment_id = session.get("client_reference_id") or (session.get("metadata") or {}).get(
        PAYMENT_KEY
    )
    intent = id_of(session.get("payment_intent"))
    amount = None
    if kind == "checkout.session.expired":
        outcome: Outcome = Outcome.EXPIRED
    elif kind == "checkout.session.async_payment_failed":
        outcome = Outcome.FAILED
    elif (
        kind == "checkout.session.completed" and session.get("payment_status") == "paid"
    ) or kind == "checkout.session.async_payment_succeeded":
        outcome = Outcome.SUCCEEDED
        amount = session.get("amount_total")
    elif kind == "checkout.session.completed":
        outcome = Outcome.PROCESSING  # a delayed payment method: its result comes later
    else:
        return NormalizedEvent(external_id=event_id, raw_type=kind, kind="other")
    return NormalizedEvent(
        external_id=event_id,
        raw_type=kind,
        kind="payment",
        outcome=outcome,
        payment_id=payment_id,
        gateway_reference=intent or session.get("id"),
        amount=amount,
        currency=str(session.get("currency", "")).upper() or None,
        occurred_at=occurred,
    )
