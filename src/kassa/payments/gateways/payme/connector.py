"""The Payme connector: a checkout link to Payme's page, and the Merchant API Payme calls.

Payme (Paycom) takes UZS only. The customer pays on checkout.paycom.uz (test.paycom.uz in the
sandbox) or in the Payme app; Payme then calls one URL of ours with JSON-RPC methods
(CheckPerformTransaction, CreateTransaction, PerformTransaction, CancelTransaction, ...).
They land in `handle_merchant_request`, which answers in Payme's protocol; the state changes
live in `services.py`. Refunds are made from Payme's merchant cabinet, which calls
CancelTransaction on a performed transaction. See docs/gateways/payme.md.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from kassa.core.errors import InvalidRequest
from kassa.payments.gateways.base import (
    Capabilities,
    CheckoutRequest,
    CheckoutSession,
    Field,
    Gateway,
    InboundRequest,
    InboundResponse,
)
from kassa.payments.gateways.payme import protocol
from kassa.payments.gateways.payme import services as payme_services
from kassa.payments.gateways.payme.protocol import Malformed, PaymeError, PaymeFault
from kassa.payments.gateways.registry import register

logger = logging.getLogger("kassa.payments.payme")

TEST_CHECKOUT_URL = "https://test.paycom.uz"
CHECKOUT_URL = "https://checkout.paycom.uz"
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_MERCHANT_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")
_CANCEL_AFTER_PERFORM = ("refund", "refuse")


@register
class PaymeGateway(Gateway):
    provider = "payme"
    display_name = "Payme"
    capabilities: ClassVar[Capabilities] = Capabilities(
        hosted_checkout=True,
        merchant_api=True,
        refunds=False,  # made in Payme's cabinet, which calls CancelTransaction
        currencies=("UZS",),
    )
    credential_fields = (
        Field(
            "merchant_id",
            "Merchant ID",
            help="The cash desk's ID from Payme Business (24 characters); it goes into the link.",
        ),
        Field(
            "key",
            "Key",
            help=(
                "The cash desk's KEY (Payme checks it as the Basic-auth password). For a "
                "test-mode account enter the sandbox TEST_KEY. Payme's ChangePassword "
                "replaces it."
            ),
            secret=True,
        ),
    )
    option_fields = (
        Field(
            "account_field",
            "Account field",
            help=(
                "The name of the account field set in Payme's cabinet that carries the Kassa "
                "payment id (one-time account). Default order_id."
            ),
            required=False,
            default=payme_services.DEFAULT_ACCOUNT_FIELD,
        ),
        Field(
            "login",
            "Basic-auth login",
            help=(
                "Leave empty to check only the key (the login Payme sends is not documented: "
                "UNCONFIRMED; in practice 'Paycom'). When set, the login must match too."
            ),
            required=False,
        ),
        Field(
            "null_unset_times",
            "Send unset times as null",
            help=(
                "CheckTransaction/GetStatement send an unset perform or cancel time as 0 by "
                "default (UNCONFIRMED officially); true sends null instead."
            ),
            required=False,
        ),
        Field(
            "cancel_after_perform",
            "Cancel after perform",
            help=(
                "'refund' (default): a CancelTransaction of a performed transaction refunds "
                "the payment where its purpose allows; 'refuse': always answer -31007."
            ),
            required=False,
            default="refund",
        ),
    )

    # -- configuration -------------------------------------------------------------------
    @classmethod
    def validate_config(
        cls, credentials: Mapping[str, Any], options: Mapping[str, Any]
    ) -> tuple[dict[str, str], dict[str, Any]]:
        clean, clean_options = super().validate_config(credentials, options)
        if not _MERCHANT_ID.match(clean["merchant_id"]):
            raise InvalidRequest(
                "credentials.merchant_id must be the cash desk ID from Payme Business.",
                param="credentials.merchant_id",
            )
        field = str(clean_options.get("account_field") or payme_services.DEFAULT_ACCOUNT_FIELD)
        if not _FIELD_NAME.match(field):
            raise InvalidRequest(
                "options.account_field must be a field name (letters, digits, underscore).",
                param="options.account_field",
            )
        clean_options["account_field"] = field
        login = str(clean_options.get("login") or "")
        if ":" in login:
            raise InvalidRequest("options.login cannot contain ':'.", param="options.login")
        if login:
            clean_options["login"] = login
        else:
            clean_options.pop("login", None)
        null_times = clean_options.get("null_unset_times", False)
        if null_times in ("true", "false"):
            null_times = null_times == "true"
        if not isinstance(null_times, bool):
            raise InvalidRequest(
                "options.null_unset_times must be true or false.",
                param="options.null_unset_times",
            )
        clean_options["null_unset_times"] = null_times
        cancel = str(clean_options.get("cancel_after_perform") or "refund")
        if cancel not in _CANCEL_AFTER_PERFORM:
            raise InvalidRequest(
                "options.cancel_after_perform must be refund or refuse.",
                param="options.cancel_after_perform",
            )
        clean_options["cancel_after_perform"] = cancel
        return clean, clean_options

    def callback_urls(self) -> dict[str, str]:
        return {"endpoint": f"{self.account.base_url}/hooks/payme/{self.account.id}"}

    # -- payments ------------------------------------------------------------------------
    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        if request.currency != payme_services.CURRENCY:
            raise InvalidRequest("Payme takes payments in UZS only.", param="currency")
        return CheckoutSession(
            redirect_url=self.checkout_link(request.payment_id, request.amount, request.success_url)
        )

    def checkout_link(self, payment_id: str, amount: int, return_url: str) -> str:
        """`<host>/<base64("m=<merchant>;ac.<field>=<payment>;a=<tiyin>;c=<return url>")>`."""
        field = self.account.options.get("account_field") or payme_services.DEFAULT_ACCOUNT_FIELD
        params = (
            f"m={self.account.credentials['merchant_id']};ac.{field}={payment_id};"
            f"a={amount};c={return_url}"
        )
        encoded = base64.b64encode(params.encode("utf-8")).decode("ascii")
        host = TEST_CHECKOUT_URL if self.account.test_mode else CHECKOUT_URL
        return f"{host}/{encoded}"

    # -- inbound -------------------------------------------------------------------------
    def handle_merchant_request(self, request: InboundRequest) -> InboundResponse:
        """One JSON-RPC call. Always HTTP 200; the outcome is in `result` or `error`."""
        if request.method != "POST":
            return _reply(protocol.error(None, PaymeError.METHOD_NOT_POST))
        try:
            call = protocol.parse_call(request.body)
        except Malformed as bad:
            return _reply(protocol.error(bad.request_id, bad.code, bad.data))
        key = self.account.credentials.get("key", "")
        login = str(self.account.options.get("login") or "")
        if not protocol.authorized(request.headers.get("authorization"), key, login):
            logger.warning("payme %s: %s refused: bad authorization", self.account.id, call.method)
            return _reply(protocol.error(call.id, PaymeError.INSUFFICIENT_PRIVILEGE))
        method = payme_services.METHODS.get(call.method)
        if method is None:
            return _reply(protocol.error(call.id, PaymeError.METHOD_NOT_FOUND, call.method))
        try:
            value = method(payme_services.Context.of(self.account), call.params)
        except PaymeFault as fault:
            logger.info(
                "payme %s: %s answered %s (%s)",
                self.account.id,
                call.method,
                int(fault.code),
                fault.data,
            )
            return _reply(protocol.error(call.id, fault.code, fault.data, fault.message_key))
        except Exception:
            # DB down, a bug: nothing was committed (the transaction rolled back). -32400
            # tells Payme to try again.
            logger.exception("payme %s: %s failed", self.account.id, call.method)
            return _reply(protocol.error(call.id, PaymeError.SYSTEM_ERROR))
        return _reply(protocol.result(call.id, value))


def _reply(body: bytes) -> InboundResponse:
    return InboundResponse(status=200, body=body, content_type="application/json; charset=utf-8")
