"""The HTTP client of OCTO's API: prepare_payment (also the status check), set_accept, refund.

Never called inside a database transaction (design rule 3): every call first checks that no
transaction is open on any connection and refuses otherwise, so a violation fails loudly in
tests instead of holding row locks across a network round trip. The base URL is the
account's `api_url` option (a local simulator in tests); timeouts are short and explicit.
"""

from __future__ import annotations

import functools
import logging
import ssl
from typing import Any

import certifi
import httpx
from django.db import connections

from kassa.payments.gateways.base import GatewayError
from kassa.payments.gateways.octo import protocol

logger = logging.getLogger("kassa.payments.octo")

TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process: building one loads the CA bundle, which costs more than
    the call itself (about 130 ms on a loaded machine, measured with bench/octo.py)."""
    return ssl.create_default_context(cafile=certifi.where())


class TransactionOpen(RuntimeError):
    """A call to OCTO was attempted inside a database transaction."""


def assert_no_transaction() -> None:
    """Refuse to run inside `transaction.atomic` (a test's own wrapping transaction, which
    Django marks, does not count)."""
    for alias in connections:
        connection = connections[alias]
        blocks = getattr(connection, "atomic_blocks", [])
        if any(not getattr(block, "_from_testcase", False) for block in blocks):
            raise TransactionOpen(
                f"OCTO must not be called inside a database transaction (connection {alias!r})."
            )


class OctoClient:
    def __init__(
        self,
        *,
        shop_id: str,
        secret: str,
        api_url: str = protocol.DEFAULT_API_URL,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.shop_id = shop_id
        self.secret = secret
        self.api_url = api_url.rstrip("/")
        self.transport = transport

    # -- calls ----------------------------------------------------------------------------------
    def prepare_payment(self, request: protocol.PrepareRequest) -> protocol.PaymentState:
        body = protocol.prepare_body(self.shop_id, self.secret, request)
        return self._payment_call("prepare_payment", body)

    def status(self, shop_transaction_id: str) -> protocol.PaymentState:
        body = protocol.status_body(self.shop_id, self.secret, shop_transaction_id)
        return self._payment_call("prepare_payment", body)

    def set_accept(self, octo_payment_uuid: str, accept_status: str) -> protocol.PaymentState:
        body = protocol.set_accept_body(self.shop_id, self.secret, octo_payment_uuid, accept_status)
        return self._payment_call("set_accept", body)

    def refund(
        self, *, shop_refund_id: str, octo_payment_uuid: str, amount: int, currency: str
    ) -> protocol.RefundState:
        body = protocol.refund_body(
            self.shop_id,
            self.secret,
            shop_refund_id=shop_refund_id,
            octo_payment_uuid=octo_payment_uuid,
            amount=amount,
            currency=currency,
        )
        payload = self._post("refund", body)
        try:
            return protocol.refund_state(payload)
        except protocol.ProtocolError as exc:
            raise GatewayError(f"OCTO refund: {exc}") from exc

    # -- plumbing -------------------------------------------------------------------------------
    def _payment_call(self, method: str, body: dict[str, Any]) -> protocol.PaymentState:
        payload = self._post(method, body)
        try:
            return protocol.payment_state(payload)
        except protocol.ProtocolError as exc:
            raise GatewayError(f"OCTO {method}: {exc}") from exc

    def _post(self, method: str, body: dict[str, Any]) -> Any:
        """POST and parse; transport failures and non-JSON answers are GatewayErrors (the
        outcome is unknown: retry later), `error` != 0 is returned for the caller to map."""
        assert_no_transaction()
        url = f"{self.api_url}/{method}"
        try:
            with httpx.Client(timeout=TIMEOUT, transport=self.transport, verify=_tls()) as client:
                response = client.post(
                    url,
                    content=protocol.dumps(body),
                    headers={"Content-Type": "application/json", "Accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            logger.warning("octo %s: %s", method, exc)
            raise GatewayError("OCTO could not be reached; try again.") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise GatewayError(f"OCTO answered HTTP {response.status_code}; try again.")
        try:
            return protocol.loads(response.content)
        except ValueError as exc:
            raise GatewayError(f"OCTO answered HTTP {response.status_code} without JSON.") from exc
