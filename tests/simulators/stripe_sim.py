"""A local Stripe API simulator: the subset Kassa uses, spoken over HTTP on loopback.

The real `stripe` SDK talks to it (the connector's `api_base` option points here). It keeps
Stripe's behaviour where Kassa depends on it:

- form-encoded bodies with bracketed keys, Bearer secret-key auth (401 otherwise);
- `Idempotency-Key`: a repeat with the same parameters replays the first answer, other
  parameters are a 400 `idempotency_error`;
- Checkout Sessions (open → complete | expired), paid on the simulator's card page
  (`POST /pay/<session id>` with `card=<number>`), optionally saving the card to a customer;
- off-session PaymentIntents (confirm=true) that follow Stripe's test cards:
  4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 `card_declined`,
  4000 0000 0000 9995 `insufficient_funds`, 4000 0027 6000 3184 `authentication_required`
  (a 402 card error carrying the PaymentIntent, left in `requires_payment_method`);
- PaymentIntent retrieve, cancel and search by `metadata['key']:'value'`;
- refunds (partial, up to the charge), listed per charge;
- signed events (`Stripe-Signature: t=…,v1=…`), queued and posted to Kassa's hook by
  `deliver()` through any transport (a Django test client, or real HTTP).

Fault injection for the tests: `drop_responses(path_prefix, n)` does the work and then cuts
the connection without an answer, as a lost response would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_VERSION = "2026-01-28.clover"

CARDS: dict[str, tuple[str, str]] = {
    # number: (outcome, decline code)
    "4242424242424242": ("succeeded", ""),
    "4000000000000002": ("declined", "card_declined"),
    "4000000000009995": ("declined", "insufficient_funds"),
    "4000002760003184": ("authentication_required", "authentication_required"),
}
MESSAGES = {
    "card_declined": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "authentication_required": "Your card was declined. This transaction requires authentication.",
}


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """A Stripe-Signature header value for the body."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def http_transport(base_url: str) -> Callable[[str, bytes, dict[str, str]], int]:
    """Deliver events over real HTTP, as Stripe does, to a running Kassa at `base_url`."""

    def post(path: str, body: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(base_url + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    return post


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`a[b][0][c]=v` → {"a": {"b": [{"c": "v"}]}}, as Stripe reads the SDK's encoding."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _listify(root)


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        if value and all(k.isdigit() for k in value):
            return [_listify(value[k]) for k in sorted(value, key=int)]
        return {k: _listify(v) for k, v in value.items()}
    return value


def _true(value: Any) -> bool:
    return str(value).lower() == "true"


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


@dataclass
class Sent:
    event: dict[str, Any]
    body: bytes
    status: int | None = None


@dataclass
class StripeSimulator:
    secret_key: str = field(default_factory=lambda: "sk_test_" + secrets.token_hex(12))
    webhook_secret: str = field(default_factory=lambda: "whsec_" + secrets.token_hex(16))
    livemode: bool = False
    url: str = ""
    hook_path: str = ""  # /hooks/stripe/<gateway account id>; set by the test
    # Stripe API versions since 2022-11-15 leave `refunds` out of a Charge; Kassa lists them.
    charge_includes_refunds: bool = True
    send_events: bool = True

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.sessions: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.methods: dict[str, dict[str, Any]] = {}
        self.method_cards: dict[str, str] = {}  # payment method id → card number
        self.idempotency: dict[tuple[str, str], tuple[dict[str, Any], int, dict[str, Any]]] = {}
        self.outbox: list[Sent] = []
        self.requests: list[tuple[str, str, dict[str, Any], str | None]] = []
        self._drops: dict[str, int] = {}
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> StripeSimulator:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                sim._handle(self, "GET")

            def do_POST(self) -> None:
                sim._handle(self, "POST")

            def do_DELETE(self) -> None:
                sim._handle(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def drop_responses(self, path_prefix: str, count: int = 1) -> None:
        """Do the next `count` requests under the path, then cut them off unanswered."""
        with self.lock:
            self._drops[path_prefix] = count

    # -- HTTP ----------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        params = parse_form(parse_qsl(parts.query) + parse_qsl(raw, keep_blank_values=True))
        path = parts.path
        if path.startswith("/pay/"):
            self._respond_pay(handler, path.removeprefix("/pay/"), params)
            return
        key = handler.headers.get("Idempotency-Key")
        auth = handler.headers.get("Authorization", "")
        try:
            if auth != f"Bearer {self.secret_key}":
                raise ApiError(
                    401, {"type": "invalid_request_error", "message": "Invalid API Key provided."}
                )
            status, body = self._idempotent(method, path, params, key)
        except ApiError as exc:
            status, body = exc.status, {"error": exc.body}
        with self.lock:
            self.requests.append((method, path, params, key))
            drop = next((p for p in self._drops if path.startswith(p) and self._drops[p]), None)
            if drop is not None:
                self._drops[drop] -= 1
        if drop is not None:
            handler.close_connection = True
            handler.connection.close()
            return
        self._send_json(handler, status, body)

    def _send_json(self, handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-Id", "req_" + secrets.token_hex(8))
        handler.end_headers()
        handler.wfile.write(data)

    def _respond_pay(
        self, handler: BaseHTTPRequestHandler, session_id: str, params: dict[str, Any]
    ) -> None:
        try:
            location = self.pay_session(session_id, str(params.get("card", "")))
        except ApiError as exc:
            self._send_json(handler, exc.status, {"error": exc.body})
            return
        handler.send_response(303)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _idempotent(
        self, method: str, path: str, params: dict[str, Any], key: str | None
    ) -> tuple[int, dict[str, Any]]:
        if method != "POST" or not key:
            return self._route(method, path, params)
        with self.lock:
            seen = self.idempotency.get((path, key))
            if seen is not None:
                if seen[0] != params:
                    raise ApiError(
                        400,
                        {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with the "
                            "same parameters they were first used with.",
                        },
                    )
                return seen[1], seen[2]
            try:
                status, body = self._route(method, path, params)
            except ApiError as exc:
                status, body = exc.status, {"error": exc.body}
            self.idempotency[(path, key)] = (params, status, body)
        if status >= 400:
            raise ApiError(status, body["error"])
        return status, body

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            routes: list[tuple[str, str, Callable[..., dict[str, Any]]]] = [
                ("POST", r"/v1/customers", self._create_customer),
                ("POST", r"/v1/checkout/sessions", self._create_session),
                ("GET", r"/v1/checkout/sessions/(cs_\w+)", self._get_session),
                ("POST", r"/v1/checkout/sessions/(cs_\w+)/expire", self._expire_session),
                ("POST", r"/v1/payment_intents", self._create_intent),
                ("GET", r"/v1/payment_intents/search", self._search_intents),
                ("GET", r"/v1/payment_intents/(pi_\w+)", self._get_intent),
                ("POST", r"/v1/payment_intents/(pi_\w+)/cancel", self._cancel_intent),
                ("GET", r"/v1/payment_methods/(pm_\w+)", self._get_method),
                ("POST", r"/v1/refunds", self._create_refund),
                ("GET", r"/v1/refunds", self._list_refunds),
            ]
            for verb, pattern, action in routes:
                match = re.fullmatch(pattern, path)
                if verb == method and match:
                    return 200, action(params, *match.groups())
        raise ApiError(404, {"type": "invalid_request_error", "message": f"No route {path}"})

    # -- objects -------------------------------------------------------------------------
    @staticmethod
    def _id(prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    def _missing(self, kind: str, ident: str) -> ApiError:
        return ApiError(
            404,
            {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": f"No such {kind}: '{ident}'",
            },
        )

    def _create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = {
            "id": self._id("cus"),
            "object": "customer",
            "email": params.get("email"),
            "metadata": params.get("metadata", {}),
            "created": int(time.time()),
            "livemode": self.livemode,
        }
        self.customers[customer["id"]] = customer
        return customer

    def _create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("mode") != "payment":
            raise ApiError(400, {"type": "invalid_request_error", "message": "mode=payment only"})
        items = params.get("line_items") or []
        if len(items) != 1:
            raise ApiError(400, {"type": "invalid_request_error", "param": "line_items"})
        price = items[0]["price_data"]
        quantity = int(items[0].get("quantity", 1))
        now = int(time.time())
        expires_at = int(params.get("expires_at") or now + 86400)
        if not now + 1800 <= expires_at <= now + 86400:
            raise ApiError(
                400,
                {
                    "type": "invalid_request_error",
                    "param": "expires_at",
                    "message": "expires_at must be 30 minutes to 24 hours from now",
                },
            )
        customer = params.get("customer")
        if customer is not None and customer not in self.customers:
            raise self._missing("customer", customer)
        session_id = self._id("cs_test" if not self.livemode else "cs_live")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": int(price["unit_amount"]) * quantity,
            "currency": price["currency"],
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "customer": customer,
            "customer_creation": params.get("customer_creation"),
            "customer_email": params.get("customer_email"),
            "payment_intent": None,
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "locale": params.get("locale"),
            "expires_at": expires_at,
            "created": now,
            "livemode": self.livemode,
            "url": f"{self.url}/pay/{session_id}",
            "_intent_data": params.get("payment_intent_data", {}),
        }
        self.sessions[session_id] = session
        return self._public(session)

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _get_session(self, params: dict[str, Any], session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise self._missing("checkout.session", session_id)
        return self._public(session)

    def _expire_session(self, params: dict[str, Any], session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise self._missing("checkout.session", session_id)
        if session["status"] != "open":
            raise ApiError(
                400, {"type": "invalid_request_error", "message": "Only open sessions expire."}
            )
        session["status"] = "expired"
        session["url"] = None
        self._emit("checkout.session.expired", self._public(session))
        return self._public(session)

    def _new_method(self, card: str, customer: str | None) -> dict[str, Any]:
        method = {
            "id": self._id("pm"),
            "object": "payment_method",
            "type": "card",
            "card": {
                "brand": "visa",
                "last4": card[-4:],
                "exp_month": 12,
                "exp_year": 2039,
                "funding": "credit",
            },
            "customer": customer,
            "created": int(time.time()),
            "livemode": self.livemode,
        }
        self.methods[method["id"]] = method
        self.method_cards[method["id"]] = card
        return method

    def _new_intent(
        self,
        amount: int,
        currency: str,
        metadata: dict[str, Any],
        customer: str | None,
        method: str | None,
        setup_future_usage: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        intent = {
            "id": self._id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": currency,
            "status": "requires_payment_method",
            "metadata": metadata,
            "customer": customer,
            "payment_method": method,
            "setup_future_usage": setup_future_usage,
            "description": description,
            "last_payment_error": None,
            "latest_charge": None,
            "created": int(time.time()),
            "livemode": self.livemode,
            "client_secret": None,
        }
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(8)}"
        self.intents[intent["id"]] = intent
        return intent

    def _attempt(self, intent: dict[str, Any], card: str) -> str:
        """Run the card against the intent; returns the decline code, or "" on success."""
        outcome, code = CARDS.get(card, ("declined", "card_declined"))
        if outcome == "succeeded":
            charge = {
                "id": self._id("ch"),
                "object": "charge",
                "amount": intent["amount"],
                "amount_refunded": 0,
                "currency": intent["currency"],
                # Stripe copies the PaymentIntent's metadata onto its charge.
                "metadata": dict(intent["metadata"]),
                "payment_intent": intent["id"],
                "payment_method": intent["payment_method"],
                "refunded": False,
                "status": "succeeded",
                "created": int(time.time()),
                "livemode": self.livemode,
            }
            self.charges[charge["id"]] = charge
            intent.update(
                status="succeeded",
                amount_received=intent["amount"],
                latest_charge=charge["id"],
                last_payment_error=None,
            )
            self._emit("payment_intent.succeeded", self._public(intent))
            return ""
        intent.update(
            status="requires_payment_method",
            last_payment_error={
                "type": "card_error",
                "code": "authentication_required"
                if code == "authentication_required"
                else "card_declined",
                "decline_code": code,
                "message": MESSAGES[code],
                "payment_method": {"id": intent["payment_method"]},
            },
        )
        self._emit("payment_intent.payment_failed", self._public(intent))
        return code

    def _create_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        if not (_true(params.get("confirm")) and params.get("off_session")):
            raise ApiError(
                400,
                {"type": "invalid_request_error", "message": "only off-session confirm=true"},
            )
        method_id = params.get("payment_method", "")
        method = self.methods.get(method_id)
        if method is None:
            raise self._missing("payment_method", method_id)
        customer = params.get("customer")
        if method["customer"] and customer != method["customer"]:
            raise ApiError(
                400,
                {
                    "type": "invalid_request_error",
                    "message": "The provided PaymentMethod belongs to another customer.",
                },
            )
        intent = self._new_intent(
            int(params["amount"]),
            params["currency"],
            params.get("metadata", {}),
            customer,
            method_id,
            description=params.get("description"),
        )
        code = self._attempt(intent, self.method_cards[method_id])
        if code:
            error = dict(intent["last_payment_error"])
            error["payment_intent"] = self._public(intent)
            error.pop("payment_method", None)
            raise ApiError(402, error)
        return self._public(intent)

    def _get_intent(self, params: dict[str, Any], intent_id: str) -> dict[str, Any]:
        intent = self.intents.get(intent_id)
        if intent is None:
            raise self._missing("payment_intent", intent_id)
        return self._public(intent)

    def _cancel_intent(self, params: dict[str, Any], intent_id: str) -> dict[str, Any]:
        intent = self.intents.get(intent_id)
        if intent is None:
            raise self._missing("payment_intent", intent_id)
        if intent["status"] in ("succeeded", "canceled"):
            raise ApiError(
                400, {"type": "invalid_request_error", "code": "payment_intent_unexpected_state"}
            )
        intent["status"] = "canceled"
        return self._public(intent)

    def _search_intents(self, params: dict[str, Any]) -> dict[str, Any]:
        match = re.fullmatch(r"metadata\['(\w+)'\]:'([^']*)'", str(params.get("query", "")))
        if match is None:
            raise ApiError(400, {"type": "invalid_request_error", "param": "query"})
        name, value = match.groups()
        found = [self._public(i) for i in self.intents.values() if i["metadata"].get(name) == value]
        return {
            "object": "search_result",
            "url": "/v1/payment_intents/search",
            "data": found,
            "has_more": False,
            "next_page": None,
        }

    def _get_method(self, params: dict[str, Any], method_id: str) -> dict[str, Any]:
        method = self.methods.get(method_id)
        if method is None:
            raise self._missing("payment_method", method_id)
        return method

    def _create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent = self.intents.get(params.get("payment_intent", ""))
        if intent is None:
            raise self._missing("payment_intent", params.get("payment_intent", ""))
        charge = self.charges.get(intent["latest_charge"] or "")
        if charge is None or intent["status"] != "succeeded":
            raise ApiError(
                400,
                {
                    "type": "invalid_request_error",
                    "code": "charge_not_refundable",
                    "message": "This PaymentIntent has no succeeded charge to refund.",
                },
            )
        amount = int(params.get("amount") or charge["amount"] - charge["amount_refunded"])
        if amount <= 0 or charge["amount_refunded"] + amount > charge["amount"]:
            raise ApiError(
                400,
                {
                    "type": "invalid_request_error",
                    "code": "charge_already_refunded"
                    if charge["amount_refunded"] >= charge["amount"]
                    else "amount_too_large",
                    "param": "amount",
                    "message": f"Refund amount ({amount}) is greater than unrefunded amount "
                    f"on charge ({charge['amount'] - charge['amount_refunded']})",
                },
            )
        refund = {
            "id": self._id("re"),
            "object": "refund",
            "amount": amount,
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": intent["id"],
            "metadata": params.get("metadata", {}),
            "reason": params.get("reason"),
            "status": "succeeded",
            "created": int(time.time()),
        }
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self._emit("charge.refunded", self._charge_view(charge))
        return refund

    def _charge_view(self, charge: dict[str, Any]) -> dict[str, Any]:
        view = dict(charge)
        if self.charge_includes_refunds:
            data = [r for r in self.refunds.values() if r["charge"] == charge["id"]]
            view["refunds"] = {"object": "list", "data": data, "has_more": False}
        return view

    def _list_refunds(self, params: dict[str, Any]) -> dict[str, Any]:
        data = [
            r for r in self.refunds.values() if r["charge"] == params.get("charge", r["charge"])
        ]
        return {"object": "list", "url": "/v1/refunds", "data": data, "has_more": False}

    # -- the customer on Stripe's pages --------------------------------------------------
    def pay_session(self, session_id: str, card: str) -> str:
        """The customer pays a Checkout Session with a test card; returns where Stripe sends
        them (the success URL, or the session page again after a decline)."""
        card = "".join(ch for ch in card if ch.isdigit())
        with self.lock:
            session = self.sessions.get(session_id)
            if session is None:
                raise self._missing("checkout.session", session_id)
            if session["status"] != "open" or session["expires_at"] <= time.time():
                raise ApiError(400, {"type": "invalid_request_error", "message": "not open"})
            intent_data = session["_intent_data"]
            customer = session["customer"]
            save = intent_data.get("setup_future_usage")
            if customer is None and (save or session["customer_creation"] == "always"):
                customer = self._create_customer({"email": session["customer_email"]})["id"]
            method = self._new_method(card, customer if save else None)
            intent_id = session["payment_intent"]
            intent = self.intents.get(intent_id or "")
            if intent is None:
                intent = self._new_intent(
                    session["amount_total"],
                    session["currency"],
                    intent_data.get("metadata", {}),
                    customer,
                    method["id"],
                    save,
                    intent_data.get("description"),
                )
                session["payment_intent"] = intent["id"]
            intent["payment_method"] = method["id"]
            # Stripe Checkout runs 3-D Secure itself; the simulated customer passes it.
            outcome = CARDS.get(card, ("declined", "card_declined"))[0]
            code = self._attempt(
                intent, "4242424242424242" if outcome == "authentication_required" else card
            )
            if code:
                return str(session["url"])
            session.update(status="complete", payment_status="paid", customer=customer)
            self._emit("checkout.session.completed", self._public(session))
            return str(session["success_url"])

    def expire_session(self, session_id: str) -> None:
        with self.lock:
            self._expire_session({}, session_id)

    # -- events --------------------------------------------------------------------------
    def _emit(self, kind: str, obj: dict[str, Any]) -> None:
        if not self.send_events:
            return
        event = {
            "id": self._id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "livemode": self.livemode,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
            "data": {"object": json.loads(json.dumps(obj))},
        }
        body = json.dumps(event, indent=2).encode()
        with self.lock:
            self.outbox.append(Sent(event=event, body=body))

    def pending(self) -> list[Sent]:
        with self.lock:
            return [s for s in self.outbox if s.status is None or s.status >= 300]

    def deliver(self, post: Callable[[str, bytes, dict[str, str]], int]) -> list[int]:
        """Post every undelivered event, in order, signed; Stripe retries non-2xx later."""
        statuses = []
        for sent in self.pending():
            headers = {
                "Stripe-Signature": sign(self.webhook_secret, sent.body),
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            }
            sent.status = post(self.hook_path, sent.body, headers)
            statuses.append(sent.status)
        return statuses

    def events(self, kind: str | None = None) -> list[Sent]:
        with self.lock:
            return [s for s in self.outbox if kind is None or s.event["type"] == kind]
