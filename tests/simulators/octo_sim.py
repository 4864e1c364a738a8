"""A local OCTO API simulator: a real HTTP server on 127.0.0.1 speaking OCTO's protocol as the
team's gateway spec (§3) describes it, written independently of Kassa's OCTO code.

- POST /prepare_payment: creates a payment (idempotent on shop_transaction_id: parameters are
  fixed by the first call) or, with only the credentials and shop_transaction_id, answers a
  status check.
- POST /set_accept: capture or cancel a hold (waiting_for_capture).
- POST /refund: refunds of succeeded payments, deduplicated on shop_refund_id, with OCTO's
  limits (>= the minimum, cumulative <= the payment, <= 10 000 000 so'm per refund).
- The customer's side (`customer_pays`) and OCTO's notifications (`notification`, signed with
  either reading of the signature) are driven by the tests.
Answers use the new envelope (`data`) or the legacy one (fields at the top level).
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid as uuidlib
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SHOP_ID = 27001
SECRET = "octo-test-secret-7c1b"
UNIQUE_KEY = "octo-unique-key-5d2e"
MAX_REFUND_UZS = Decimal("10000000")


@dataclass
class SimPayment:
    shop_transaction_id: str
    uuid: str
    total_sum: Decimal
    currency: str
    auto_capture: bool
    test: bool
    body: dict[str, Any]
    status: str = "created"
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def refunded(self) -> Decimal:
        return sum(
            (r["amount"] for r in self.refunds.values() if r["status"] == "succeeded"),
            Decimal(0),
        )


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


class OctoSimulator:
    def __init__(self) -> None:
        self.shop_id = SHOP_ID
        self.secret = SECRET
        self.unique_key = UNIQUE_KEY
        self.payments: dict[str, SimPayment] = {}  # by shop_transaction_id
        self.calls: list[tuple[str, str]] = []  # (method, raw body)
        self.envelope = "data"  # or "legacy"
        self.status_includes_sum = False  # the documented status answer has no total_sum
        self.refund_status = "succeeded"  # what a new refund reports ("pending" to test)
        self.min_refund_uzs = Decimal("13000")
        self.failures: list[int] = []  # HTTP statuses to answer next (e.g. 500)
        self.refusals: list[tuple[int, str]] = []  # OCTO errors to answer next
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> OctoSimulator:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def bodies(self, method: str) -> list[dict[str, Any]]:
        return [json.loads(raw) for m, raw in self.calls if m == method]

    def by_uuid(self, uuid: str) -> SimPayment:
        return next(p for p in self.payments.values() if p.uuid == uuid)

    # -- the customer and OCTO's side -------------------------------------------------------------
    def customer_pays(self, shop_transaction_id: str, *, success: bool = True) -> SimPayment:
        payment = self.payments[shop_transaction_id]
        if not success:
            payment.status = "canceled"
        elif payment.auto_capture:
            payment.status = "succeeded"
        else:
            payment.status = "waiting_for_capture"
        return payment

    def accept(self, shop_transaction_id: str, accept_status: str) -> None:
        """OCTO acting on the merchant's answer to its confirmation request."""
        payment = self.payments[shop_transaction_id]
        if payment.status == "waiting_for_capture":
            payment.status = "succeeded" if accept_status == "capture" else "canceled"

    def notification(
        self,
        shop_transaction_id: str,
        *,
        scheme: str = "hash_key",
        status: str | None = None,
        total_sum: Any = "auto",
        secret: str | None = None,
        lower_case: bool = False,
    ) -> dict[str, Any]:
        payment = self.payments[shop_transaction_id]
        status = status or payment.status
        hash_key = str(uuidlib.uuid4())
        if scheme == "hash_key":
            inner = sha1((secret or self.secret) + hash_key)
            signature = sha1(inner + payment.uuid + status).upper()
        else:
            signature = sha1((secret or self.unique_key) + payment.uuid + status).upper()
        body: dict[str, Any] = {
            "shop_transaction_id": shop_transaction_id,
            "octo_payment_UUID": payment.uuid,
            "status": status,
            "signature": signature.lower() if lower_case else signature,
            "hash_key": hash_key,
            "total_sum": payment.total_sum if total_sum == "auto" else total_sum,
            "transfer_sum": payment.total_sum * Decimal("0.97"),
            "refunded_sum": payment.refunded,
            "card_country": "UZ",
            "maskedPan": "860049** **** 3011",
            "rrn": "436456776123",
            "riskLevel": 0,
            "payed_time": "2024-12-25 15:25:14",
            "card_type": "uzcard",
        }
        if body["total_sum"] is None:
            del body["total_sum"]
        return body

    @staticmethod
    def encode(body: dict[str, Any]) -> bytes:
        """JSON with decimals as bare numbers, as OCTO writes them."""
        return json.dumps(
            body, default=lambda d: float(d) if isinstance(d, Decimal) else d
        ).encode()

    # -- the API ----------------------------------------------------------------------------------
    def _answer(self, fields: dict[str, Any]) -> dict[str, Any]:
        if self.envelope == "legacy":
            return {"error": 0, **fields}
        return {"error": 0, "errMessage": None, "data": fields}

    def _error(self, code: int, message: str) -> dict[str, Any]:
        return {"error": code, "errMessage": message, "data": None}

    def _authorised(self, body: dict[str, Any]) -> bool:
        return body.get("octo_shop_id") == self.shop_id and body.get("octo_secret") == self.secret

    def handle(self, method: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls.append((method, raw.decode()))
            if self.failures:
                return self.failures.pop(0), {"error": "simulated outage"}
            if self.refusals:
                return 200, self._error(*self.refusals.pop(0))
            try:
                body = json.loads(raw, parse_float=Decimal)
            except ValueError:
                return 200, self._error(1, "Data format error")
            if not isinstance(body, dict):
                return 200, self._error(1, "Data format error")
            if not self._authorised(body):
                return 200, self._error(2, "Wrong secret")
            if method == "prepare_payment":
                return 200, self._prepare(body)
            if method == "set_accept":
                return 200, self._set_accept(body)
            if method == "refund":
                return 200, self._refund(body)
            return 404, {"error": 404, "errMessage": "not found"}

    def _state(self, payment: SimPayment, *, with_sum: bool) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "shop_transaction_id": payment.shop_transaction_id,
            "octo_payment_UUID": payment.uuid,
            "status": payment.status,
        }
        if payment.status in ("created", "wait_user_action"):
            fields["octo_pay_url"] = f"https://pay.octo.uz/{payment.uuid}"
        if with_sum:
            fields["total_sum"] = payment.total_sum
        return fields

    def _prepare(self, body: dict[str, Any]) -> dict[str, Any]:
        shop_transaction_id = body.get("shop_transaction_id")
        if not isinstance(shop_transaction_id, str) or not shop_transaction_id:
            return self._error(1, "shop_transaction_id is required")
        existing = self.payments.get(shop_transaction_id)
        if set(body) == {"octo_shop_id", "octo_secret", "shop_transaction_id"}:
            if existing is None:
                return self._error(1, "Payment not found")
            return self._answer(self._state(existing, with_sum=self.status_includes_sum))
        if existing is not None:  # parameters are fixed by the first call
            return self._answer(self._state(existing, with_sum=True))
        total = body.get("total_sum")
        if not isinstance(total, Decimal | int) or isinstance(total, bool) or total <= 0:
            return self._error(1, "total_sum must be a positive number")
        for name in ("init_time", "currency", "description"):
            if not body.get(name):
                return self._error(1, f"{name} is required")
        payment = SimPayment(
            shop_transaction_id=shop_transaction_id,
            uuid=str(uuidlib.uuid4()),
            total_sum=Decimal(total),
            currency=str(body["currency"]),
            auto_capture=body.get("auto_capture", False) is True,  # the legacy default
            test=body.get("test") is True,
            body=body,
        )
        self.payments[shop_transaction_id] = payment
        return self._answer(self._state(payment, with_sum=True))

    def _set_accept(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            payment = self.by_uuid(str(body.get("octo_payment_UUID")))
        except StopIteration:
            return self._error(1, "Payment not found")
        decision = body.get("accept_status")
        if decision not in ("capture", "cancel"):
            return self._error(1, "accept_status must be capture or cancel")
        if payment.status != "waiting_for_capture":
            return self._error(4, f"Payment is {payment.status}")
        payment.status = "succeeded" if decision == "capture" else "canceled"
        return {"error": 0, **self._state(payment, with_sum=False)}

    def _refund(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            payment = self.by_uuid(str(body.get("octo_payment_UUID")))
        except StopIteration:
            return self._error(1, "Payment not found")
        refund_id = body.get("shop_refund_id")
        if not isinstance(refund_id, str) or not refund_id:
            return self._error(1, "shop_refund_id is required")
        if refund_id in payment.refunds:  # a repeated call: the same refund
            return self._answer(self._refund_fields(payment, payment.refunds[refund_id]))
        amount = body.get("amount")
        if not isinstance(amount, Decimal | int) or isinstance(amount, bool):
            return self._error(1, "amount must be a number")
        amount = Decimal(amount)
        if payment.status not in ("succeeded", "partially_refunded"):
            return self._error(3, "Only succeeded payments can be refunded")
        too_small = payment.currency == "UZS" and amount < self.min_refund_uzs
        too_big = payment.currency == "UZS" and amount > MAX_REFUND_UZS
        if amount <= 0 or too_small or too_big or payment.refunded + amount > payment.total_sum:
            return self._error(3, "Invalid refund amount")
        refund = {
            "refund_id": str(uuidlib.uuid4()),
            "amount": amount,
            "status": self.refund_status,
            "refund_time": "2024-12-18 16:59:39",
        }
        payment.refunds[refund_id] = refund
        return self._answer(self._refund_fields(payment, refund))

    def settle_refunds(self) -> None:
        """OCTO finishes refunds it had reported pending."""
        with self.lock:
            for payment in self.payments.values():
                for refund in payment.refunds.values():
                    if refund["status"] in ("pending", "new"):
                        refund["status"] = "succeeded"

    @staticmethod
    def _refund_fields(payment: SimPayment, refund: dict[str, Any]) -> dict[str, Any]:
        return {
            "octo_payment_UUID": payment.uuid,
            "refund_id": refund["refund_id"],
            "refund_time": refund["refund_time"],
            "status": refund["status"],
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                method = self.path.strip("/")
                status, answer = simulator.handle(method, raw)
                data = simulator.encode(answer)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        return Handler
