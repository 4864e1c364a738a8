"""The sandbox connector: the default in test mode, what a new user and the demo pay with."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from kassa.payments.gateways.base import (
    Capabilities,
    ChargeRequest,
    ChargeResult,
    CheckoutRequest,
    CheckoutSession,
    Field,
    Gateway,
    GatewayError,
    InboundRequest,
    NormalizedEvent,
    Outcome,
    PaymentRef,
    RefundOutcome,
    RefundRequest,
    RefundResult,
    SavedMethod,
    StatusResult,
    VerificationError,
)
from kassa.payments.gateways.registry import register
from kassa.payments.gateways.sandbox import provider
from kassa.payments.gateways.sandbox.models import SandboxCheckout

_OUTCOMES = {
    "succeeded": Outcome.SUCCEEDED,
    "failed": Outcome.FAILED,
    "requires_action": Outcome.REQUIRES_ACTION,
}


@register
class SandboxGateway(Gateway):
    provider = "sandbox"
    display_name = "Sandbox"
    test_only = True
    capabilities: ClassVar[Capabilities] = Capabilities(
        hosted_checkout=True,
        off_session=True,
        save_payment_method=True,
        refunds=True,
        partial_refunds=True,
        status_query=True,
    )
    credential_fields = (
        Field(
            "signing_secret",
            "Event signing secret",
            help="Signs the sandbox's events to Kassa; generated when left empty.",
            secret=True,
            required=False,
        ),
    )

    @classmethod
    def validate_config(
        cls, credentials: Mapping[str, Any], options: Mapping[str, Any]
    ) -> tuple[dict[str, str], dict[str, Any]]:
        clean, clean_options = super().validate_config(credentials, options)
        clean.setdefault("signing_secret", "sbxsec_" + secrets.token_urlsafe(24))
        return clean, clean_options

    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        checkout = provider.open_checkout(self.account.id, request)
        return CheckoutSession(
            redirect_url=provider.checkout_url(checkout),
            gateway_reference=f"cs_sbx_{checkout.token}",
            expires_at=checkout.expires_at,
        )

    def charge_saved_method(self, request: ChargeRequest) -> ChargeResult:
        try:
            charge = provider.charge_card(
                self.account.id,
                request.payment_id,
                request.payment_method_reference,
                request.amount,
                request.currency,
                request.idempotency_key,
            )
        except LookupError as exc:
            return ChargeResult(
                Outcome.FAILED, failure_code="payment_method_missing", failure_message=str(exc)
            )
        behaviour = provider.TEST_CARDS[charge.card.number] if charge.card else None
        return ChargeResult(
            outcome=_OUTCOMES[charge.status],
            gateway_reference=charge.id,
            failure_code=charge.failure_code or None,
            failure_message=behaviour.message if behaviour and behaviour.message else None,
        )

    def refund(self, request: RefundRequest) -> RefundResult:
        try:
            made = provider.refund(
                self.account.id, request.payment_id, request.amount, request.idempotency_key
            )
        except LookupError as exc:
            raise GatewayError(str(exc)) from exc
        except ValueError as exc:
            return RefundResult(RefundOutcome.FAILED, failure_message=str(exc))
        return RefundResult(RefundOutcome.SUCCEEDED, gateway_reference=made.id)

    def query_status(self, payment: PaymentRef) -> StatusResult | None:
        charge = provider.latest_charge(self.account.id, payment.payment_id)
        if charge is not None:
            return StatusResult(
                _OUTCOMES[charge.status],
                gateway_reference=charge.id,
                amount=charge.amount,
                currency=charge.currency,
                failure_code=charge.failure_code or None,
            )
        checkout = (
            SandboxCheckout.objects.filter(
                gateway_account_id=self.account.id, payment_id=payment.payment_id
            )
            .order_by("-created_at")
            .first()
        )
        if checkout is None:
            return None
        if checkout.expires_at <= datetime.now(UTC):
            return StatusResult(Outcome.EXPIRED)
        return StatusResult(Outcome.PENDING)

    def parse_inbound(self, request: InboundRequest) -> list[NormalizedEvent]:
        secret = self.account.credentials.get("signing_secret", "")
        try:
            provider.verify(
                secret, request.body, request.headers.get(provider.SIGNATURE_HEADER.lower())
            )
        except ValueError as exc:
            raise VerificationError(str(exc)) from exc
        try:
            event = json.loads(request.body)
            data = event["data"]
            kind = event["type"]
            external_id = str(event["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise VerificationError(f"malformed event: {exc}") from exc
        if not kind.startswith("charge."):
            return [NormalizedEvent(external_id=external_id, raw_type=kind, kind="other")]
        card = data.get("card")
        saved = None
        if card:
            saved = SavedMethod(
                gateway_reference=card["token"],
                brand=card.get("brand", ""),
                last4=card.get("last4", ""),
                exp_month=card.get("exp_month"),
                exp_year=card.get("exp_year"),
                gateway_customer_reference=card.get("customer"),
            )
        return [
            NormalizedEvent(
                external_id=external_id,
                raw_type=kind,
                kind="payment",
                outcome=_OUTCOMES.get(kind.removeprefix("charge."), Outcome.PENDING),
                payment_id=data.get("payment_id"),
                gateway_reference=data.get("charge"),
                amount=data.get("amount"),
                currency=data.get("currency"),
                failure_code=data.get("failure_code"),
                failure_message=data.get("failure_message"),
                saved_method=saved,
            )
        ]
