"""The Click connector: a payment link to Click's page, and the SHOP API Click calls.

Click (click.uz) takes UZS only. The customer pays on my.click.uz (or in the Click app); Click
then calls our Prepare URL (check the order, reserve it) and our Complete URL (the debit's
result). Both land in `handle_merchant_request`, which answers in Click's protocol; the state
changes live in `services.py`. Refunds and reversals are made in Click's merchant cabinet
(or its Merchant API), not through Kassa. See docs/gateways/click.md.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from kassa.core.errors import InvalidRequest
from kassa.core.money import to_decimal_string
from kassa.payments.gateways.base import (
    Capabilities,
    CheckoutRequest,
    CheckoutSession,
    Field,
    Gateway,
    InboundRequest,
    InboundResponse,
)
from kassa.payments.gateways.click import protocol
from kassa.payments.gateways.click import services as click_services
from kassa.payments.gateways.click import tasks as _click_tasks  # noqa: F401  (periodic job)
from kassa.payments.gateways.registry import register

logger = logging.getLogger("kassa.payments.click")

DEFAULT_CHECKOUT_URL = "https://my.click.uz/services/pay"
_DIGITS = re.compile(r"^[0-9]{1,19}$")
_PATH_ACTIONS = ("", "prepare", "complete")


@register
class ClickGateway(Gateway):
    provider = "click"
    display_name = "Click"
    capabilities: ClassVar[Capabilities] = Capabilities(
        hosted_checkout=True,
        merchant_api=True,
        refunds=False,  # made in Click's merchant cabinet / Merchant API, not through Kassa
        currencies=("UZS",),
    )
    credential_fields = (
        Field(
            "service_id",
            "Service ID",
            help="service_id of your Click service (merchant cabinet → Services). Digits.",
        ),
        Field(
            "merchant_id",
            "Merchant ID",
            help="merchant_id Click issued to you; it goes into the payment link. Digits.",
        ),
        Field(
            "merchant_user_id",
            "Merchant user ID",
            help=(
                "merchant_user_id from Click (used by Click's Merchant API). Optional; "
                "when set it is added to the payment link."
            ),
            required=False,
        ),
        Field(
            "secret_key",
            "Secret key",
            help=(
                "SECRET_KEY of the service: Click signs every Prepare and Complete with it "
                "(MD5 sign_string). Use the test service's key for a test-mode account."
            ),
            secret=True,
        ),
    )
    option_fields = (
        Field(
            "checkout_url",
            "Payment page URL",
            help=(
                "Click's payment page the customer is sent to. Test and live services use the "
                "same page; change it only if Click tells you to."
            ),
            required=False,
            default=DEFAULT_CHECKOUT_URL,
        ),
        Field(
            "card_type",
            "Card type",
            help="Optional: 'uzcard' or 'humo' to preselect the card system on Click's page.",
            required=False,
        ),
        Field(
            "prepare_timeout_minutes",
            "Reservation timeout (minutes)",
            help=(
                "How long a Prepare without a Complete keeps the payment reserved. Click "
                "documents no limit (UNCONFIRMED); a late Complete is still accepted."
            ),
            required=False,
            default=str(click_services.DEFAULT_PREPARE_TIMEOUT_MINUTES),
        ),
        Field(
            "cancel_of_confirmed_reply",
            "Reply to a cancel of a confirmed payment",
            help=(
                "Click's docs disagree (UNCONFIRMED): its Postman suite expects -9 when Click "
                "cancels an already confirmed payment, the request docs suggest -4. Default -9. "
                "Either way Kassa keeps the payment paid."
            ),
            required=False,
            default="-9",
        ),
    )

    # -- configuration -------------------------------------------------------------------
    @classmethod
    def validate_config(
        cls, credentials: Mapping[str, Any], options: Mapping[str, Any]
    ) -> tuple[dict[str, str], dict[str, Any]]:
        clean, clean_options = super().validate_config(credentials, options)
        for name in ("service_id", "merchant_id", "merchant_user_id"):
            if name in clean and not _DIGITS.match(clean[name]):
                raise InvalidRequest(
                    f"credentials.{name} must be the number Click issued.",
                    param=f"credentials.{name}",
                )
        url = str(clean_options.get("checkout_url") or DEFAULT_CHECKOUT_URL)
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.netloc or parts.query:
            raise InvalidRequest(
                "options.checkout_url must be an https URL without a query.",
                param="options.checkout_url",
            )
        clean_options["checkout_url"] = url
        card_type = str(clean_options.get("card_type") or "")
        if card_type not in ("", "uzcard", "humo"):
            raise InvalidRequest(
                "options.card_type must be uzcard or humo.", param="options.card_type"
            )
        if card_type:
            clean_options["card_type"] = card_type
        else:
            clean_options.pop("card_type", None)
        clean_options["prepare_timeout_minutes"] = _int_option(
            clean_options.get("prepare_timeout_minutes"), "prepare_timeout_minutes", 1, 10080
        )
        reply = _int_option(
            clean_options.get("cancel_of_confirmed_reply"), "cancel_of_confirmed_reply", -9, -4
        )
        if reply not in (-9, -4):
            raise InvalidRequest(
                "options.cancel_of_confirmed_reply must be -9 or -4.",
                param="options.cancel_of_confirmed_reply",
            )
        clean_options["cancel_of_confirmed_reply"] = reply
        return clean, clean_options

    def callback_urls(self) -> dict[str, str]:
        base = f"{self.account.base_url}/hooks/click/{self.account.id}"
        return {"prepare": f"{base}/prepare", "complete": f"{base}/complete"}

    # -- payments ------------------------------------------------------------------------
    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        if request.currency != click_services.CURRENCY:
            raise InvalidRequest("Click takes payments in UZS only.", param="currency")
        credentials = self.account.credentials
        params = {
            "service_id": credentials["service_id"],
            "merchant_id": credentials["merchant_id"],
            "amount": to_decimal_string(request.amount, request.currency),
            "transaction_param": request.payment_id,  # comes back as merchant_trans_id
            "return_url": request.success_url,
        }
        if credentials.get("merchant_user_id"):
            params["merchant_user_id"] = credentials["merchant_user_id"]
        if self.account.options.get("card_type"):
            params["card_type"] = str(self.account.options["card_type"])
        base = str(self.account.options.get("checkout_url") or DEFAULT_CHECKOUT_URL)
        return CheckoutSession(redirect_url=f"{base}?{urlencode(params)}")

    # -- inbound -------------------------------------------------------------------------
    def handle_merchant_request(self, request: InboundRequest) -> InboundResponse:
        """Prepare and Complete. Both URLs accept both: the signed `action` field decides."""
        fields = protocol.parse_form(request.body) if request.method == "POST" else None
        path_action = protocol.COMPLETE if request.action == "complete" else protocol.PREPARE
        action = path_action
        if fields is not None and fields.get("action") in ("0", "1"):
            action = int(fields["action"])
        echo = {
            "click_trans_id": protocol.echo_trans_id(fields),
            "merchant_trans_id": (fields or {}).get("merchant_trans_id"),
        }
        if request.action not in _PATH_ACTIONS:
            return _answer(protocol.ClickError.ACTION_NOT_FOUND, action, echo)
        if fields is None:
            logger.warning("click %s: not a form POST", self.account.id)
            return _answer(protocol.ClickError.BAD_REQUEST, action, echo)
        try:
            parsed = protocol.parse(
                fields,
                secret_key=self.account.credentials.get("secret_key", ""),
                service_id=self.account.credentials.get("service_id", ""),
            )
        except protocol.ProtocolError as refused:
            logger.warning(
                "click %s: refused with %s: %s", self.account.id, int(refused.code), refused
            )
            return _answer(refused.code, action, echo)
        if parsed.action == protocol.PREPARE:
            answer = click_services.prepare(self.account.id, parsed)
        else:
            answer = click_services.complete(self.account.id, parsed)
        logger.info(
            "click %s: action %s for %s (click_trans_id %s): %s",
            self.account.id,
            parsed.action,
            parsed.merchant_trans_id,
            parsed.click_trans_id,
            int(answer.error),
        )
        return _answer(answer.error, parsed.action, echo, answer.merchant_id)


def _answer(
    code: protocol.ClickError,
    action: int,
    echo: Mapping[str, Any],
    merchant_id: int | None = None,
) -> InboundResponse:
    body = protocol.reply(
        code,
        action=action,
        click_trans_id=echo.get("click_trans_id"),
        merchant_trans_id=echo.get("merchant_trans_id"),
        merchant_id=merchant_id,
    )
    return InboundResponse(status=200, body=body)


def _int_option(value: Any, name: str, low: int, high: int) -> int:
    text = str(value).strip() if value is not None else ""
    if isinstance(value, bool) or not re.fullmatch(r"-?[0-9]{1,6}", text):
        raise InvalidRequest(f"options.{name} must be a whole number.", param=f"options.{name}")
    number = int(text)
    if not low <= number <= high:
        raise InvalidRequest(
            f"options.{name} must be between {low} and {high}.", param=f"options.{name}"
        )
    return number
