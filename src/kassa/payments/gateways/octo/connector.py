"""The OCTO connector (octo.uz): a hosted payment page, status checks, two-stage holds, refunds.

Kassa calls OCTO's prepare_payment with `shop_transaction_id` = the Kassa payment id (OCTO's
idempotency key) and sends the customer to `octo_pay_url`. OCTO notifies
`POST /hooks/octo/<gateway account id>`: the signature is checked with the account's
`signature_scheme` (two readings of the docs exist, UNCONFIRMED, see protocol.py), the
notification is stored once, and its processing re-reads the payment from OCTO before any
value is granted. A waiting_for_capture notification is answered `{"accept_status": ...}`
at once, as OCTO requires. See docs/gateways/octo.md.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from kassa.core.errors import InvalidRequest
from kassa.core.money import from_decimal, to_decimal_string
from kassa.payments.gateways.base import (
    Capabilities,
    CheckoutRequest,
    CheckoutSession,
    EventRefused,
    Field,
    Gateway,
    GatewayError,
    InboundRequest,
    InboundResponse,
    NormalizedEvent,
    PaymentRef,
    RefundOutcome,
    RefundRequest,
    RefundResult,
    StatusResult,
    VerificationError,
)
from kassa.payments.gateways.octo import protocol
from kassa.payments.gateways.octo import services as octo_services
from kassa.payments.gateways.octo import tasks as _octo_tasks  # noqa: F401  (periodic jobs)
from kassa.payments.gateways.registry import register

logger = logging.getLogger("kassa.payments.octo")

# OCTO's refund limits (spec §3.6): each refund at least 1 USD or its equivalent, at most
# 10 000 000 so'm per refund transaction. The so'm equivalent of 1 USD moves with the rate,
# hence an option.
DEFAULT_MIN_REFUND_UZS = "13000.00"
MAX_REFUND_UZS = 10_000_000_00  # tiyin
MIN_REFUND_USD = 1_00  # cents

_REFUND_OUTCOMES = {
    "succeeded": RefundOutcome.SUCCEEDED,
    "canceled": RefundOutcome.FAILED,
    "cancelled": RefundOutcome.FAILED,
    "error": RefundOutcome.FAILED,
}


@register
class OctoGateway(Gateway):
    provider = "octo"
    display_name = "OCTO"
    capabilities: ClassVar[Capabilities] = Capabilities(
        hosted_checkout=True,
        refunds=True,
        partial_refunds=True,
        status_query=True,
        two_stage=True,
        # OCTO's confirmation request must be answered in OCTO's protocol ({"accept_status"}),
        # so the hook answers it itself; notifications are still stored once and processed
        # by the event task.
        merchant_api=True,
        authoritative_events=False,  # confirm_event re-reads the status from OCTO
        currencies=("UZS", "USD"),
    )
    credential_fields = (
        Field(
            "shop_id",
            "Shop ID (octo_shop_id)",
            help="The shop's numeric id from OCTO's merchant cabinet. Digits.",
        ),
        Field(
            "secret",
            "Secret (octo_secret)",
            help=(
                "The shop's secret key generated in OCTO's cabinet; sent with every API call and "
                "used by the hash_key signature scheme."
            ),
            secret=True,
        ),
        Field(
            "unique_key",
            "Unique key",
            help=(
                "The separate key the OCTO team issues for signing notifications, needed by the "
                "unique_key signature scheme. Optional otherwise."
            ),
            secret=True,
            required=False,
        ),
    )
    option_fields = (
        Field(
            "signature_scheme",
            "Notification signature scheme",
            help=(
                "UNCONFIRMED in OCTO's docs. hash_key: SHA1(hex(SHA1(secret + hash_key)) + "
                "UUID + status) (the docs' formula); unique_key: SHA1(unique_key + UUID + "
                "status) (what existing integrations use); either: accept both."
            ),
            required=False,
            default=protocol.Scheme.HASH_KEY.value,
        ),
        Field(
            "capture",
            "Capture",
            help=(
                "auto: one stage (auto_capture=true). notify: two stages, Kassa answers OCTO's "
                "confirmation request with capture. manual: two stages, staff or the API "
                "capture or cancel the hold."
            ),
            required=False,
            default=octo_services.CAPTURE_AUTO,
        ),
        Field(
            "hold_check_minutes",
            "Ask about holds after (minutes)",
            help=(
                "A hold without news for this long is read back from OCTO. OCTO's auto-cancel "
                "window is UNCONFIRMED (30 minutes on one page, 7 to 30 days on another)."
            ),
            required=False,
            default=str(octo_services.DEFAULT_HOLD_CHECK_MINUTES),
        ),
        Field(
            "min_refund_uzs",
            "Smallest refund in so'm",
            help=(
                "OCTO refuses refunds below 1 USD or its equivalent; the so'm figure follows "
                "the exchange rate."
            ),
            required=False,
            default=DEFAULT_MIN_REFUND_UZS,
        ),
        Field(
            "api_url",
            "API URL",
            help="OCTO's API host; change it only for a local simulator or if OCTO says so.",
            required=False,
            default=protocol.DEFAULT_API_URL,
        ),
    )

    # -- configuration -------------------------------------------------------------------
    @classmethod
    def validate_config(
        cls, credentials: Mapping[str, Any], options: Mapping[str, Any]
    ) -> tuple[dict[str, str], dict[str, Any]]:
        clean, clean_options = super().validate_config(credentials, options)
        shop_id = clean.get("shop_id", "")
        if not shop_id.isdigit() or len(shop_id) > 18:
            raise InvalidRequest(
                "credentials.shop_id must be the number OCTO issued.", param="credentials.shop_id"
            )
        scheme = str(clean_options.get("signature_scheme") or protocol.Scheme.HASH_KEY)
        if scheme not in {s.value for s in protocol.Scheme}:
            raise InvalidRequest(
                "options.signature_scheme must be hash_key, unique_key or either.",
                param="options.signature_scheme",
            )
        if scheme in (protocol.Scheme.UNIQUE_KEY, protocol.Scheme.EITHER) and not clean.get(
            "unique_key"
        ):
            raise InvalidRequest(
                f"The {scheme} signature scheme needs credentials.unique_key.",
                param="credentials.unique_key",
            )
        clean_options["signature_scheme"] = scheme
        capture = str(clean_options.get("capture") or octo_services.CAPTURE_AUTO)
        if capture not in octo_services.CAPTURE_MODES:
            raise InvalidRequest(
                "options.capture must be auto, notify or manual.", param="options.capture"
            )
        clean_options["capture"] = capture
        minutes = str(clean_options.get("hold_check_minutes", "")).strip()
        if not minutes.isdigit() or not 1 <= int(minutes) <= 60 * 24 * 30:
            raise InvalidRequest(
                "options.hold_check_minutes must be a whole number of minutes (1 to 43200).",
                param="options.hold_check_minutes",
            )
        clean_options["hold_check_minutes"] = int(minutes)
        try:
            minimum = from_decimal(
                str(clean_options.get("min_refund_uzs")), "UZS", param="options.min_refund_uzs"
            )
        except InvalidRequest:
            raise InvalidRequest(
                "options.min_refund_uzs must be an amount in so'm such as 13000.00.",
                param="options.min_refund_uzs",
            ) from None
        clean_options["min_refund_uzs"] = to_decimal_string(max(minimum, 0), "UZS")
        url = str(clean_options.get("api_url") or protocol.DEFAULT_API_URL).rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.query:
            raise InvalidRequest(
                "options.api_url must be an http(s) URL without a query.", param="options.api_url"
            )
        clean_options["api_url"] = url
        return clean, clean_options

    def callback_urls(self) -> dict[str, str]:
        return {"notify_url": f"{self.account.base_url}/hooks/octo/{self.account.id}"}

    def _record(self) -> Any:
        from kassa.payments.models import GatewayAccount

        return GatewayAccount.objects.get(pk=self.account.id)

    # -- payments ------------------------------------------------------------------------
    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        if request.currency not in ("UZS", "USD"):
            raise InvalidRequest("OCTO takes payments in UZS or USD.", param="currency")
        account = self._record()
        client = octo_services.client_for(account)
        for _ in range(2):  # a second time when the open attempt turns out to have ended
            attempt = octo_services.begin_attempt(account, request.payment_id)
            seconds = (request.expires_at - octo_services.clock()).total_seconds()
            state = _refusal_as_gateway_error(client.prepare_payment)(
                protocol.PrepareRequest(
                    shop_transaction_id=attempt.shop_transaction_id,
                    amount=attempt.amount,
                    currency=attempt.currency,
                    auto_capture=attempt.auto_capture,
                    test=attempt.test,
                    init_time=octo_services.clock(),
                    description=request.description,
                    return_url=request.success_url,
                    notify_url=self.callback_urls()["notify_url"],
                    language=request.locale,
                    ttl_minutes=max(1, math.ceil(seconds / 60)),
                    user_id=request.customer_id,
                    email=request.customer_email,
                    phone=request.customer_phone,
                )
            )
            attempt = octo_services.record_state(attempt.pk, state)
            if state.status not in (protocol.Status.CANCELED, protocol.Status.FAILED):
                break
        if not state.pay_url:
            raise GatewayError(f"OCTO returned no payment page for {state.status} payment.")
        return CheckoutSession(
            redirect_url=state.pay_url, gateway_reference=state.octo_payment_uuid
        )

    def query_status(self, payment: PaymentRef) -> StatusResult | None:
        from kassa.payments.gateways.octo.models import OctoPayment

        attempt = (
            OctoPayment.objects.filter(
                gateway_account_id=self.account.id, payment_id=payment.payment_id
            )
            .order_by("-attempt")
            .first()
        )
        if attempt is None:
            return None
        try:
            state = octo_services.client_for(self._record()).status(attempt.shop_transaction_id)
        except protocol.OctoRefused as refused:
            raise GatewayError(f"OCTO status check refused: {refused.octo_message}") from refused
        attempt = octo_services.record_state(attempt.pk, state)
        outcome = octo_services.outcome_of(state.status)
        try:
            amount = octo_services.checked_amount(attempt, state)
        except EventRefused:
            return None
        return StatusResult(
            outcome,
            gateway_reference=state.octo_payment_uuid,
            amount=amount,
            currency=attempt.currency,
            failure_code=f"octo_{state.status}" if outcome == "requires_action" else None,
        )

    def check_refund(self, amount: int, currency: str, payment_amount: int) -> str | None:
        if currency == "UZS":
            minimum = from_decimal(
                str(self.account.options.get("min_refund_uzs") or DEFAULT_MIN_REFUND_UZS), "UZS"
            )
            if amount < minimum:
                return (
                    f"OCTO refunds at least {to_decimal_string(minimum, 'UZS')} UZS (1 USD or its "
                    "equivalent)."
                )
            if amount > MAX_REFUND_UZS:
                return "OCTO refunds at most 10000000.00 UZS at a time; refund in parts."
        if currency == "USD" and amount < MIN_REFUND_USD:
            return "OCTO refunds at least 1.00 USD."
        return None

    def refund(self, request: RefundRequest) -> RefundResult:
        if not request.payment_gateway_reference:
            return RefundResult(
                RefundOutcome.FAILED, failure_message="The payment has no OCTO payment UUID."
            )
        client = octo_services.client_for(self._record())
        try:
            state = client.refund(
                shop_refund_id=request.refund_id,  # OCTO dedupes repeated refund calls on it
                octo_payment_uuid=request.payment_gateway_reference,
                amount=request.amount,
                currency=request.currency,
            )
        except protocol.OctoRefused as refused:
            # 1 data format, 2 authorisation, 3 invalid refund amount (legacy docs).
            return RefundResult(
                RefundOutcome.FAILED, failure_message=f"OCTO refused: {refused.octo_message}"[:500]
            )
        outcome = _REFUND_OUTCOMES.get(state.status, RefundOutcome.PENDING)
        return RefundResult(
            outcome,
            gateway_reference=state.refund_id or None,
            failure_message=f"OCTO refund {state.status}" if outcome == "failed" else None,
        )

    # -- inbound -------------------------------------------------------------------------
    def parse_inbound(self, request: InboundRequest) -> list[NormalizedEvent]:
        notification = self._verified(request)
        payment_id = octo_services.payment_id_of(notification.shop_transaction_id)
        amount = None
        if notification.total_sum is not None:
            try:
                amount = protocol.minor_units(notification.total_sum, "UZS")
            except protocol.ProtocolError:
                amount = -1  # unreadable: never equal to a payment, refused on processing
        status = notification.status
        # Refund statuses of a paid payment are informational: refunds are made through Kassa
        # and confirmed by OCTO's refund answer.
        kind = "other" if status in ("refunded", "partially_refunded") else "payment"
        return [
            NormalizedEvent(
                # hash_key differs on every retry; the payment and status identify the news.
                external_id=(
                    f"{self.account.id}:{notification.shop_transaction_id}:"
                    f"{notification.octo_payment_uuid}:{status}"
                )[:255],
                raw_type=f"payment.{status}",
                kind=kind,
                outcome=octo_services.outcome_of(status),
                payment_id=payment_id,
                gateway_reference=notification.octo_payment_uuid,
                amount=amount,
                refund_gateway_reference=notification.shop_transaction_id,
            )
        ]

    def confirm_event(self, event: NormalizedEvent) -> NormalizedEvent:
        if event.kind != "payment":
            return event
        shop_transaction_id = event.refund_gateway_reference or event.payment_id or ""
        confirmed = octo_services.confirm(self._record(), event, shop_transaction_id)
        return confirmed

    def handle_merchant_request(self, request: InboundRequest) -> InboundResponse:
        """Store the notification (verified) and answer OCTO; a waiting_for_capture question
        gets {"accept_status": "capture"|"cancel"}."""
        from kassa.payments.inbound import receive

        if request.method != "POST":
            return _json(405, {"error": "POST only"})
        account = self._record()
        try:
            receive(account, request)
        except VerificationError as exc:
            return _json(400, {"error": f"verification failed: {exc}"})
        notification = protocol.parse_notification(request.body)
        if notification.status != protocol.Status.WAITING_FOR_CAPTURE:
            return _json(200, {"received": True})
        try:
            answer = octo_services.answer_hold(account, notification)
        except (GatewayError, protocol.OctoRefused) as exc:
            # The hold cannot be checked with OCTO now: no decision; OCTO asks again.
            logger.warning("octo %s: hold not checked: %s", account.id, exc)
            return _json(503, {"error": "status check failed; retry"})
        if answer is None:
            return _json(200, {"received": True})
        return _json(200, {"accept_status": answer})

    def _verified(self, request: InboundRequest) -> protocol.Notification:
        try:
            notification = protocol.parse_notification(request.body)
        except protocol.ProtocolError as exc:
            raise VerificationError(f"malformed notification: {exc}") from exc
        credentials = self.account.credentials
        scheme = str(self.account.options.get("signature_scheme") or protocol.Scheme.HASH_KEY)
        if not protocol.signature_matches(
            notification,
            scheme,
            secret=credentials.get("secret", ""),
            unique_key=credentials.get("unique_key", ""),
        ):
            raise VerificationError(f"bad signature (scheme {scheme})")
        return notification


def _refusal_as_gateway_error[**P, R](call: Callable[P, R]) -> Callable[P, R]:
    """OCTO's `error` != 0 on a call made for the customer becomes a GatewayError, which the
    checkout shows as "try again"."""

    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return call(*args, **kwargs)
        except protocol.OctoRefused as refused:
            logger.warning("octo: %s", refused)
            raise GatewayError(f"OCTO refused the payment: {refused.octo_message}") from refused

    return wrapped


def _json(status: int, body: Mapping[str, Any]) -> InboundResponse:
    return InboundResponse(status=status, body=json.dumps(body).encode())
