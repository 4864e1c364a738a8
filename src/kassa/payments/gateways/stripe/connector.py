"""The Stripe connector, through the official `stripe` SDK.

- Hosted checkout is a Stripe Checkout Session (mode=payment) carrying our payment id as
  `client_reference_id` and in the metadata of the session and of its PaymentIntent; it can
  save the card (`setup_future_usage=off_session`) for later off-session charges.
- A saved card is charged with an off-session PaymentIntent whose idempotency key derives from
  our payment id. An `authentication_required` decline puts the payment in `requires_action`
  and the customer finishes on-session through our hosted checkout; we never retry blindly.
- Refunds carry our refund id as idempotency key and in their metadata; partial refunds work.
- `POST /hooks/stripe/<gateway account id>` is verified with the SDK's own `Stripe-Signature`
  check (300 s tolerance, any of several v1 signatures) and normalized in webhooks.py.
- The reconciliation poll asks about a payment by its PaymentIntent or Checkout Session, or,
  when the answer to an off-session call was lost, searches PaymentIntents by our metadata.

The API base is configurable (option `api_base`, else the KASSA_STRIPE_API_BASE setting) so the
tests can run the real SDK against tests/simulators/stripe_sim.py. See docs/gateways/stripe.md.
The metadata keys, status maps and error mapping the connector and the webhooks share live in
protocol.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import stripe
from django.conf import settings

from kassa.core.errors import InvalidRequest
from kassa.payments.gateways.base import (
    Capabilities,
    ChargeRequest,
    ChargeResult,
    CheckoutRequest,
    CheckoutSession,
    Field,
    Gateway,
    InboundRequest,
    NormalizedEvent,
    Outcome,
    PaymentRef,
    RefundOutcome,
    RefundRequest,
    RefundResult,
    StatusResult,
)
from kassa.payments.gateways.registry import register
from kassa.payments.gateways.stripe import webhooks
from kassa.payments.gateways.stripe.protocol import (
    FLOW_KEY,
    PAYMENT_KEY,
    REFUND_KEY,
    REFUND_OUTCOMES,
    gateway_error,
    id_of,
    intent_failure_code,
    intent_outcome,
    intent_status,
)

# Checkout pages exist in these of our locales; Stripe picks the browser's for the others.
_CHECKOUT_LOCALES = {"en": "en", "de": "de", "ru": "ru"}
# A Checkout Session lives between 30 minutes and 24 hours (specs/gateways.md 4.2).
_SESSION_MIN = timedelta(minutes=31)
_SESSION_MAX = timedelta(hours=23, minutes=59)

_KEY_PREFIXES = {"secret_key": ("sk_", "rk_"), "publishable_key": ("pk_",)}


def _mode_of(key: str) -> str | None:
    """'test' or 'live' from a Stripe key's prefix (sk_test_..., rk_live_...)."""
    parts = key.split("_")
    return parts[1] if len(parts) > 2 and parts[1] in ("test", "live") else None


@register
class StripeGateway(Gateway):
    provider = "stripe"
    display_name = "Stripe"
    capabilities: ClassVar[Capabilities] = Capabilities(
        hosted_checkout=True,
        off_session=True,
        save_payment_method=True,
        refunds=True,
        partial_refunds=True,
        status_query=True,
    )
    setup_help = (
        "Stripe Dashboard → Developers → Webhooks → Add endpoint: paste the webhook URL above and "
        "select the events checkout.session.completed, checkout.session.expired, "
        "checkout.session.async_payment_succeeded, checkout.session.async_payment_failed, "
        "payment_intent.succeeded, payment_intent.payment_failed and charge.refunded; then "
        "copy the endpoint's signing secret (whsec_…) into the credentials. "
        "Use the test-mode dashboard for a test account."
    )
    credential_fields = (
        Field(
            "secret_key",
            "Secret key",
            help=(
                "Dashboard → Developers → API keys: the secret key (sk_test_… for a test-mode "
                "account, sk_live_… for a live one) or a restricted key (rk_…) with write access "
                "to Checkout Sessions, PaymentIntents, Customers and Refunds."
            ),
            secret=True,
        ),
        Field(
            "webhook_secret",
            "Webhook signing secret",
            help=(
                "Dashboard → Developers → Webhooks → your endpoint (the callback URL below) → "
                "Signing secret, whsec_…. Every event's Stripe-Signature is checked with it."
            ),
            secret=True,
        ),
        Field(
            "publishable_key",
            "Publishable key",
            help="pk_test_… / pk_live_…; optional, only kept for reference.",
            required=False,
        ),
    )
    option_fields = (
        Field(
            "api_base",
            "API base URL",
            help=(
                "Leave empty for https://api.stripe.com (or the KASSA_STRIPE_API_BASE setting); "
                "tests point it at a local Stripe simulator."
            ),
            required=False,
        ),
        Field(
            "timeout_seconds",
            "Request timeout (seconds)",
            help="How long one call to Stripe may take before it counts as lost (default 30).",
            required=False,
        ),
        Field(
            "max_network_retries",
            "Network retries",
            help=(
                "How often the SDK retries a failed call with the same idempotency key (default 2)."
            ),
            required=False,
        ),
    )

    # -- configuration -------------------------------------------------------------------
    @classmethod
    def validate_config(
        cls, credentials: Mapping[str, Any], options: Mapping[str, Any]
    ) -> tuple[dict[str, str], dict[str, Any]]:
        clean, clean_options = super().validate_config(credentials, options)
        for name, prefixes in _KEY_PREFIXES.items():
            value = clean.get(name)
            if value is not None and (not value.startswith(prefixes) or _mode_of(value) is None):
                raise InvalidRequest(
                    f"credentials.{name} must look like {prefixes[0]}test_… or {prefixes[0]}live_…",
                    param=f"credentials.{name}",
                )
        if not clean["webhook_secret"].startswith("whsec_"):
            raise InvalidRequest(
                "credentials.webhook_secret must start with whsec_.",
                param="credentials.webhook_secret",
            )
        if "publishable_key" in clean and _mode_of(clean["publishable_key"]) != _mode_of(
            clean["secret_key"]
        ):
            raise InvalidRequest(
                "The publishable and secret keys belong to different modes.",
                param="credentials.publishable_key",
            )
        api_base = str(clean_options.get("api_base") or "").strip().rstrip("/")
        if api_base:
            parts = urlsplit(api_base)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise InvalidRequest("options.api_base must be an http(s) URL.", param="options")
            clean_options["api_base"] = api_base
        else:
            clean_options.pop("api_base", None)
        for name, low, high in (("timeout_seconds", 1, 120), ("max_network_retries", 0, 5)):
            if name in clean_options:
                try:
                    number = float(clean_options[name])
                except (TypeError, ValueError):
                    number = -1
                if not low <= number <= high:
                    raise InvalidRequest(
                        f"options.{name} must be a number from {low} to {high}.", param="options"
                    )
                clean_options[name] = str(clean_options[name])
        return clean, clean_options

    @classmethod
    def check_mode(cls, credentials: Mapping[str, str], test_mode: bool) -> None:
        wanted = "test" if test_mode else "live"
        if _mode_of(credentials.get("secret_key", "")) != wanted:
            raise InvalidRequest(
                f"A {wanted}-mode account needs a {wanted} key (sk_{wanted}_… or rk_{wanted}_…).",
                param="credentials.secret_key",
            )

    # -- the SDK -------------------------------------------------------------------------
    def _client(self) -> stripe.StripeClient:
        options = self.account.options
        api_base = options.get("api_base") or settings.KASSA_STRIPE_API_BASE
        return stripe.StripeClient(
            self.account.credentials["secret_key"],
            base_addresses={"api": api_base},
            max_network_retries=int(float(options.get("max_network_retries", 2))),
            http_client=stripe.RequestsClient(timeout=float(options.get("timeout_seconds", 30))),
        )

    # -- checkout ------------------------------------------------------------------------
    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        client = self._client()
        previous = request.previous_reference or ""
        if previous.startswith("cs_"):
            reused = self._open_session(client, previous, request)
            if reused is not None:
                return reused
        params = self._session_params(request)
        # The same request retried (by the SDK, or after a lost answer) gets the same session.
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:24]
        key = f"{request.payment_id}:checkout:{digest}"
        try:
            session = client.v1.checkout.sessions.create(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": key},
            )
        except stripe.StripeError as exc:
            raise gateway_error(exc) from exc
        return CheckoutSession(
            redirect_url=str(session.url),
            gateway_reference=session.id,
            expires_at=datetime.fromtimestamp(session.expires_at, UTC),
        )

    def _open_session(
        self, client: stripe.StripeClient, session_id: str, request: CheckoutRequest
    ) -> CheckoutSession | None:
        """The payment's earlier session when it is still open for the same amount: one open
        session per payment, so a customer cannot pay twice in two tabs."""
        try:
            session = client.v1.checkout.sessions.retrieve(session_id)
        except stripe.StripeError:
            return None
        if (
            session.status != "open"
            or session.amount_total != request.amount
            or str(session.currency).upper() != request.currency
            or not session.url
        ):
            return None
        return CheckoutSession(
            redirect_url=str(session.url),
            gateway_reference=session.id,
            expires_at=datetime.fromtimestamp(session.expires_at, UTC),
        )

    def _session_params(self, request: CheckoutRequest) -> dict[str, Any]:
        now = datetime.now(UTC)
        expires = min(max(request.expires_at, now + _SESSION_MIN), now + _SESSION_MAX)
        metadata = {PAYMENT_KEY: request.payment_id, FLOW_KEY: "checkout"}
        intent_data: dict[str, Any] = {
            "metadata": metadata,
            "description": request.description[:1000],
        }
        params: dict[str, Any] = {
            "mode": "payment",
            "client_reference_id": request.payment_id,
            "metadata": {PAYMENT_KEY: request.payment_id},
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.currency.lower(),
                        "unit_amount": request.amount,
                        "product_data": {"name": request.description[:250] or request.payment_id},
                    },
                }
            ],
            "payment_intent_data": intent_data,
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            # Whole seconds: the same request must produce the same parameters.
            "expires_at": int(expires.timestamp()) // 60 * 60,
            "locale": _CHECKOUT_LOCALES.get(request.locale[:2], "auto"),
        }
        if request.save_payment_method:
            intent_data["setup_future_usage"] = "off_session"
            if request.gateway_customer_reference:
                params["customer"] = request.gateway_customer_reference
            else:
                params["customer_creation"] = "always"
        if "customer" not in params and request.customer_email:
            params["customer_email"] = request.customer_email
        return params

    # -- off-session ---------------------------------------------------------------------
    def charge_saved_method(self, request: ChargeRequest) -> ChargeResult:
        params: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "payment_method": request.payment_method_reference,
            "off_session": True,
            "confirm": True,
            "description": request.description[:1000],
            "metadata": {PAYMENT_KEY: request.payment_id, FLOW_KEY: "off_session"},
        }
        if request.gateway_customer_reference:
            params["customer"] = request.gateway_customer_reference
        try:
            intent = self._client().v1.payment_intents.create(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": request.idempotency_key},
            )
        except stripe.CardError as exc:
            error = exc.error
            declined_intent = getattr(error, "payment_intent", None) if error else None
            code = (exc.code or "card_declined") if error else "card_declined"
            decline = getattr(error, "decline_code", None) if error else None
            if code == "authentication_required" or decline == "authentication_required":
                return ChargeResult(
                    Outcome.REQUIRES_ACTION,
                    gateway_reference=id_of(declined_intent),
                    failure_code="authentication_required",
                    failure_message=exc.user_message or "The card requires authentication.",
                )
            return ChargeResult(
                Outcome.FAILED,
                gateway_reference=id_of(declined_intent),
                failure_code=decline or code,
                failure_message=exc.user_message or "The card was declined.",
            )
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404 or exc.code == "resource_missing":
                return ChargeResult(
                    Outcome.FAILED,
                    failure_code="payment_method_missing",
                    failure_message=exc.user_message or "The saved card is gone at Stripe.",
                )
            raise gateway_error(exc) from exc
        except stripe.StripeError as exc:
            # Lost or refused for a reason we cannot judge: the payment stays pending and the
            # reconciliation poll finds the PaymentIntent by its metadata.
            raise gateway_error(exc) from exc
        return ChargeResult(
            intent_outcome(intent),
            gateway_reference=intent.id,
            failure_code=intent_failure_code(intent),
        )

    # -- refunds -------------------------------------------------------------------------
    def refund(self, request: RefundRequest) -> RefundResult:
        client = self._client()
        intent_id = self._intent_id(client, request.payment_id, request.payment_gateway_reference)
        if intent_id is None:
            return RefundResult(
                RefundOutcome.FAILED, failure_message="Stripe knows no paid PaymentIntent for it."
            )
        params: dict[str, Any] = {
            "payment_intent": intent_id,
            "amount": request.amount,
            "metadata": {REFUND_KEY: request.refund_id, PAYMENT_KEY: request.payment_id},
        }
        try:
            made = client.v1.refunds.create(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": f"{request.idempotency_key}:refund"},
            )
        except stripe.InvalidRequestError as exc:
            if exc.http_status in (400, 404):
                return RefundResult(
                    RefundOutcome.FAILED, failure_message=exc.user_message or str(exc)
                )
            raise gateway_error(exc) from exc
        except stripe.StripeError as exc:
            raise gateway_error(exc) from exc
        return RefundResult(
            REFUND_OUTCOMES.get(str(made.status), RefundOutcome.PENDING),
            gateway_reference=made.id,
            failure_message=getattr(made, "failure_reason", None) or None,
        )

    def _intent_id(
        self, client: stripe.StripeClient, payment_id: str, reference: str
    ) -> str | None:
        if reference.startswith("pi_"):
            return reference
        if reference.startswith("cs_"):
            try:
                session = client.v1.checkout.sessions.retrieve(reference)
            except stripe.StripeError as exc:
                raise gateway_error(exc) from exc
            return id_of(session.payment_intent)
        found = self._search_intent(client, payment_id)
        return found.id if found is not None else None

    # -- status --------------------------------------------------------------------------
    def query_status(self, payment: PaymentRef) -> StatusResult | None:
        client = self._client()
        reference = payment.gateway_reference or ""
        try:
            if reference.startswith("pi_"):
                return intent_status(client.v1.payment_intents.retrieve(reference))
            if reference.startswith("cs_"):
                return self._session_status(client, reference)
            if not payment.off_session:
                # No session was opened (or its URL never reached the customer): no money
                # can have moved, and a search per abandoned payment would waste the quota.
                return None
            intent = self._search_intent(client, payment.payment_id)
        except stripe.StripeError as exc:
            raise gateway_error(exc) from exc
        return intent_status(intent) if intent is not None else None

    def _session_status(self, client: stripe.StripeClient, session_id: str) -> StatusResult:
        session = client.v1.checkout.sessions.retrieve(session_id)
        intent = id_of(session.payment_intent)
        if session.status == "complete":
            if session.payment_status == "paid":
                return StatusResult(
                    Outcome.SUCCEEDED,
                    gateway_reference=intent or session.id,
                    amount=session.amount_total,
                    currency=str(session.currency).upper(),
                )
            return StatusResult(Outcome.PROCESSING, gateway_reference=intent or session.id)
        if session.status == "expired":
            return StatusResult(Outcome.EXPIRED)
        return StatusResult(Outcome.PENDING)

    def _search_intent(self, client: stripe.StripeClient, payment_id: str) -> Any:
        """The PaymentIntent Stripe made for our payment: a succeeded one first, else the latest.
        Stripe's search index can lag by a minute; the poll simply asks again later."""
        try:
            found = client.v1.payment_intents.search(
                {"query": f"metadata['{PAYMENT_KEY}']:'{payment_id}'", "limit": 20}
            )
        except stripe.StripeError as exc:
            raise gateway_error(exc) from exc
        intents = sorted(found.data, key=lambda i: i.created, reverse=True)
        for intent in intents:
            if intent.status == "succeeded":
                return intent
        return intents[0] if intents else None

    def cancel(self, payment: PaymentRef) -> None:
        reference = payment.gateway_reference or ""
        client = self._client()
        try:
            if reference.startswith("cs_"):
                client.v1.checkout.sessions.expire(reference)
            elif reference.startswith("pi_"):
                client.v1.payment_intents.cancel(reference)
        except stripe.StripeError as exc:
            raise gateway_error(exc) from exc

    # -- inbound -------------------------------------------------------------------------
    def parse_inbound(self, request: InboundRequest) -> list[NormalizedEvent]:
        return webhooks.parse_event(request, self.account, self._client)
