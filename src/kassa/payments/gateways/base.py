"""The gateway interface: what every payment provider connector implements.

Connectors are pure protocol adapters. They never touch the database or the ledger; they turn
our typed requests into the provider's protocol and the provider's answers (and inbound
requests) into our typed results. `kassa.payments.services` persists intents before calling
them, outside any database transaction, and records their results afterwards.

Two inbound styles exist:
- asynchronous notifications (Stripe, OCTO, the sandbox): `parse_inbound` verifies the request
  and returns normalized events, which are stored once and then processed: in the storing
  transaction for providers whose word is final (Stripe, the sandbox), by a task for OCTO,
  whose notifications are confirmed with a call to OCTO first (`kassa.payments.inbound`);
- merchant APIs that the provider calls synchronously and that must answer in its protocol
  (Payme JSON-RPC, Click SHOP API): `handle_merchant_request` answers directly and changes state
  through the payment services inside the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from kassa.core.errors import InvalidRequest, KassaError


class GatewayError(KassaError):
    """The provider could not be reached or answered with an error we cannot map."""

    status = 502
    type = "api_error"
    code = "gateway_error"
    default_message = "The payment provider could not process the request; try again."


class VerificationError(Exception):
    """An inbound request failed authentication (bad signature, stale timestamp, bad auth)."""


class EventRefused(Exception):
    """A verified event cannot be trusted after a check with the provider (another amount,
    another payment): it is marked failed for staff and changes nothing."""


class Outcome(StrEnum):
    """A provider's view of a payment, mapped onto our statuses."""

    PENDING = "pending"
    PROCESSING = "processing"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    EXPIRED = "expired"


class RefundOutcome(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Capabilities:
    hosted_checkout: bool = True
    off_session: bool = False  # charge a saved payment method without the customer
    save_payment_method: bool = False
    refunds: bool = False
    partial_refunds: bool = False
    status_query: bool = False  # the reconciliation poll can ask about a payment
    two_stage: bool = False  # authorize now, capture later
    merchant_api: bool = False  # the provider calls us synchronously (Payme, Click)
    # Verified notifications can be applied as they arrive; False when `confirm_event` asks
    # the provider first (a network call, so never inside the transaction that stores them).
    authoritative_events: bool = True
    currencies: tuple[str, ...] | None = None  # None: any ISO 4217 currency


@dataclass(frozen=True)
class Field:
    """A credential or option field, for validation, the admin form and the docs."""

    name: str
    label: str
    help: str = ""
    secret: bool = False
    required: bool = True
    default: str | None = None


@dataclass(frozen=True)
class AccountConfig:
    """What a connector knows about the gateway account it acts for."""

    id: str  # gwa_...
    organization_id: str
    provider: str
    test_mode: bool
    credentials: Mapping[str, str]
    options: Mapping[str, Any]
    base_url: str  # Kassa's public base URL, for callback and return URLs
    enabled: bool = True  # a disabled account still settles what it started


@dataclass(frozen=True)
class CheckoutRequest:
    payment_id: str
    amount: int
    currency: str
    description: str
    locale: str
    success_url: str
    cancel_url: str
    expires_at: datetime
    customer_id: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    customer_phone: str | None = None
    gateway_customer_reference: str | None = None
    save_payment_method: bool = False
    # The provider reference of an earlier checkout of this payment, so a connector can
    # reuse a session that is still open instead of opening a second one.
    previous_reference: str | None = None


@dataclass(frozen=True)
class CheckoutSession:
    """Where to send the customer: a GET redirect, or a form to POST."""

    redirect_url: str
    gateway_reference: str | None = None
    form_fields: Mapping[str, str] | None = None  # when set, POST these to redirect_url
    expires_at: datetime | None = None


@dataclass(frozen=True)
class SavedMethod:
    gateway_reference: str
    kind: str = "card"
    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    gateway_customer_reference: str | None = None


@dataclass(frozen=True)
class ChargeRequest:
    payment_id: str
    amount: int
    currency: str
    description: str
    payment_method_reference: str
    idempotency_key: str
    gateway_customer_reference: str | None = None
    return_url: str | None = None


@dataclass(frozen=True)
class ChargeResult:
    outcome: Outcome
    gateway_reference: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    action_url: str | None = None  # where the customer completes authentication


@dataclass(frozen=True)
class RefundRequest:
    refund_id: str
    payment_id: str
    payment_gateway_reference: str
    amount: int
    currency: str
    payment_amount: int
    idempotency_key: str
    reason: str = ""


@dataclass(frozen=True)
class RefundResult:
    outcome: RefundOutcome
    gateway_reference: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class PaymentRef:
    """What we know about a payment when asking the provider about it."""

    payment_id: str
    gateway_reference: str | None
    amount: int
    currency: str
    off_session: bool = False  # a saved method was charged without the customer


@dataclass(frozen=True)
class StatusResult:
    outcome: Outcome
    gateway_reference: str | None = None
    amount: int | None = None
    currency: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class InboundRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)
    remote_addr: str | None = None
    action: str = ""  # the path's last part for multi-endpoint protocols (click: prepare/complete)


@dataclass(frozen=True)
class InboundResponse:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class NormalizedEvent:
    """One provider event, in our terms. `external_id` is unique per provider."""

    external_id: str
    raw_type: str
    kind: str  # "payment", "refund", or "other" (stored and acknowledged, not processed)
    outcome: str | None = None  # an Outcome for payments, a RefundOutcome for refunds
    payment_id: str | None = None  # our pay_ id when the provider echoes it
    gateway_reference: str | None = None
    refund_id: str | None = None  # our re_ id when the provider echoes it
    refund_gateway_reference: str | None = None
    amount: int | None = None
    currency: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    action_url: str | None = None
    saved_method: SavedMethod | None = None
    occurred_at: datetime | None = None


class Gateway:
    """Base class of every connector. Override what the capabilities promise."""

    provider: ClassVar[str]
    display_name: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()
    credential_fields: ClassVar[tuple[Field, ...]] = ()
    option_fields: ClassVar[tuple[Field, ...]] = ()
    #: A simulated provider that must never take real money.
    test_only: ClassVar[bool] = False
    #: What else to set up in the provider's cabinet, shown next to the callback URLs.
    setup_help: ClassVar[str] = ""

    def __init__(self, account: AccountConfig) -> None:
        self.account = account

    # -- configuration -------------------------------------------------------------------
    @classmethod
    def validate_config(
        cls, credentials: Mapping[str, Any], options: Mapping[str, Any]
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """Check and normalize credentials and options; raise InvalidRequest naming the field."""
        if not isinstance(credentials, Mapping):
            raise InvalidRequest("credentials must be an object.", param="credentials")
        known = {f.name for f in cls.credential_fields}
        unknown = set(credentials) - known
        if unknown:
            raise InvalidRequest(
                f"Unknown credential field(s) for {cls.provider}: {', '.join(sorted(unknown))}.",
                param="credentials",
            )
        clean: dict[str, str] = {}
        for spec in cls.credential_fields:
            value = credentials.get(spec.name, spec.default)
            if value is None or (isinstance(value, str) and not value.strip()):
                if spec.required:
                    raise InvalidRequest(
                        f"{cls.display_name} needs credentials.{spec.name} ({spec.label}).",
                        param=f"credentials.{spec.name}",
                    )
                continue
            clean[spec.name] = str(value).strip()
        clean_options: dict[str, Any] = {}
        option_names = {f.name for f in cls.option_fields}
        unknown_options = set(options) - option_names
        if unknown_options:
            raise InvalidRequest(
                f"Unknown option(s) for {cls.provider}: {', '.join(sorted(unknown_options))}.",
                param="options",
            )
        for spec in cls.option_fields:
            value = options.get(spec.name, spec.default)
            if value is not None:
                clean_options[spec.name] = value
        return clean, clean_options

    @classmethod
    def check_mode(cls, credentials: Mapping[str, str], test_mode: bool) -> None:
        """Refuse credentials of the other mode (a live key on a test account); InvalidRequest."""

    def callback_urls(self) -> dict[str, str]:
        """The URLs to paste into the provider's cabinet."""
        return {"webhook": f"{self.account.base_url}/hooks/{self.provider}/{self.account.id}"}

    # -- payments ------------------------------------------------------------------------
    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        raise NotImplementedError(f"{self.provider} has no hosted checkout")

    def charge_saved_method(self, request: ChargeRequest) -> ChargeResult:
        raise NotImplementedError(f"{self.provider} cannot charge saved payment methods")

    def refund(self, request: RefundRequest) -> RefundResult:
        raise NotImplementedError(f"{self.provider} does not support refunds through Kassa")

    def query_status(self, payment: PaymentRef) -> StatusResult | None:
        """The provider's view of a payment, or None when it cannot say."""
        return None

    def cancel(self, payment: PaymentRef) -> None:
        """Best effort: tell the provider that a pending payment will not be paid."""

    def check_refund(self, amount: int, currency: str, payment_amount: int) -> str | None:
        """A provider's own refund limits: why this refund cannot be made, or None."""
        return None

    # -- inbound -------------------------------------------------------------------------
    def parse_inbound(self, request: InboundRequest) -> list[NormalizedEvent]:
        """Verify an inbound notification and normalize it; raise VerificationError."""
        raise NotImplementedError(f"{self.provider} sends no asynchronous notifications")

    def confirm_event(self, event: NormalizedEvent) -> NormalizedEvent:
        """Called by the event task before a stored event is applied, outside any database
        transaction. Connectors whose notifications are not authoritative (OCTO signs neither
        the amount nor the shop) re-read the provider's view here; raise EventRefused to mark
        the event failed, GatewayError to retry it later."""
        return event

    def handle_merchant_request(self, request: InboundRequest) -> InboundResponse:
        """Answer a synchronous merchant-API call in the provider's own protocol."""
        raise NotImplementedError(f"{self.provider} has no merchant API")
