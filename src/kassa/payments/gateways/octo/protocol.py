"""OCTO (octo.uz) wire format: request bodies, response envelopes, statuses, the callback
signature. Pure functions only (no database, no HTTP): `client` sends, `services`
decides. Facts from the team's gateway spec §3 (help.octo.uz pages, two third-party packages).

- Every call is a JSON POST with the shop's credentials in the body (`octo_shop_id` int,
  `octo_secret`). Amounts are decimals in currency units (so'm), written here as exact JSON
  number literals built from integer minor units: no float ever touches them.
- Responses: `{"error": 0, "errMessage": null, "data": {...}}`. The legacy docs put the fields
  at the top level, the new ones inside `data`: both places are read.
- Callback signature, UNCONFIRMED (spec §3.4: the docs' formula is cut off and the two public
  implementations disagree), so the account chooses with `signature_scheme`:
  * "hash_key" (scheme A, the literal reading of the docs):
    SHA1(hex(SHA1(secret + hash_key)) + octo_payment_UUID + status)
  * "unique_key" (scheme B, paytechuz and goodoneuz): SHA1(unique_key + octo_payment_UUID + status)
  * "either": accept a signature that matches one of them (while finding out which one the
    cabinet uses).
  Signatures are compared case-insensitively (the official example is upper-case hex). Neither
  scheme covers the amount, which is why a notification is never trusted for the amount.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from kassa.core.money import from_decimal, to_decimal_string
from kassa.payments.gateways.base import GatewayError

DEFAULT_API_URL = "https://secure.octo.uz"
# init_time is a local wall-clock time without a zone; OCTO is in Tashkent (UNCONFIRMED).
OCTO_ZONE = ZoneInfo("Asia/Tashkent")


class Scheme(StrEnum):
    HASH_KEY = "hash_key"  # A: SHA1(hex(SHA1(secret + hash_key)) + uuid + status)
    UNIQUE_KEY = "unique_key"  # B: SHA1(unique_key + uuid + status)
    EITHER = "either"


class Status(StrEnum):
    """OCTO payment statuses. The first five are documented; the docs' list is cut off, and
    `failed`, `refunded`, `partially_refunded` come from third-party code (UNCONFIRMED)."""

    CREATED = "created"
    WAIT_USER_ACTION = "wait_user_action"
    WAITING_FOR_CAPTURE = "waiting_for_capture"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


OPEN_STATUSES = frozenset({Status.CREATED, Status.WAIT_USER_ACTION})
PAID_STATUSES = frozenset({Status.SUCCEEDED, Status.REFUNDED, Status.PARTIALLY_REFUNDED})


class ProtocolError(ValueError):
    """OCTO's answer (or a notification) is not what the protocol says."""


class OctoRefused(GatewayError):
    """OCTO answered with `error` != 0. A GatewayError, so that a refusal nobody maps (a
    status read refused as "Requests too often", say) is retried later like an outage;
    refunds map it to a failed refund first."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"OCTO error {code}: {message}")
        self.octo_code = code
        self.octo_message = message


# -- amounts ------------------------------------------------------------------------------------


class Amount(Decimal):
    """A decimal written into JSON as a bare number literal (`"total_sum": 1500.00`)."""


def amount_of(minor: int, currency: str) -> Amount:
    return Amount(to_decimal_string(minor, currency))


def dumps(body: Mapping[str, Any]) -> bytes:
    """JSON with `Amount`s as exact number literals: json cannot write a Decimal, and a float
    would lose digits, so they go in as placeholders and are substituted as text."""
    literals: dict[str, str] = {}

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            token = f"__octo_amount_{len(literals)}__"
            literals[token] = format(value, "f")
            return token
        raise TypeError(f"cannot encode {type(value).__name__}")

    text = json.dumps(body, default=default, ensure_ascii=False, separators=(",", ":"))
    for token, literal in literals.items():
        text = text.replace(f'"{token}"', literal)
    return text.encode("utf-8")


def loads(raw: bytes | str) -> Any:
    """Parse OCTO JSON keeping numbers exact (decimals, never floats)."""
    return json.loads(raw, parse_float=Decimal)


def minor_units(value: Any, currency: str) -> int:
    """An amount OCTO sent (a JSON number or a string) in minor units; ProtocolError if it is
    not an exact amount of the currency."""
    if isinstance(value, bool) or value is None:
        raise ProtocolError(f"not an amount: {value!r}")
    try:
        decimal = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ProtocolError(f"not an amount: {value!r}") from None
    try:
        return from_decimal(decimal, currency)
    except Exception as exc:  # InvalidAmount: more digits than the currency has
        raise ProtocolError(str(exc)) from None


# -- requests -----------------------------------------------------------------------------------


def credentials_body(shop_id: str, secret: str) -> dict[str, Any]:
    return {"octo_shop_id": int(shop_id), "octo_secret": secret}


@dataclass(frozen=True)
class PrepareRequest:
    shop_transaction_id: str
    amount: int  # minor units
    currency: str
    auto_capture: bool
    test: bool
    init_time: datetime
    description: str
    return_url: str
    notify_url: str
    language: str
    ttl_minutes: int
    user_id: str | None = None
    email: str | None = None
    phone: str | None = None


def prepare_body(shop_id: str, secret: str, request: PrepareRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        **credentials_body(shop_id, secret),
        "shop_transaction_id": request.shop_transaction_id,
        # Sent always: the docs disagree on its default (spec §3.2).
        "auto_capture": request.auto_capture,
        "test": request.test,
        "init_time": request.init_time.astimezone(OCTO_ZONE).strftime("%Y-%m-%d %H:%M:%S"),
        "total_sum": amount_of(request.amount, request.currency),
        "currency": request.currency,
        "description": request.description[:250] or request.shop_transaction_id,
        "return_url": request.return_url,
        "notify_url": request.notify_url,
        # OCTO's page speaks uz, ru and en; other checkout languages (de) get English.
        "language": request.language if request.language in ("uz", "ru", "en") else "en",
        "ttl": max(1, request.ttl_minutes),
    }
    user = {
        key: value
        for key, value in (
            ("user_id", request.user_id),
            ("email", request.email),
            ("phone", _digits(request.phone)),
        )
        if value
    }
    if user:
        body["user_data"] = user
    return body


def status_body(shop_id: str, secret: str, shop_transaction_id: str) -> dict[str, Any]:
    """A status check is prepare_payment with only the credentials and the shop's id."""
    return {**credentials_body(shop_id, secret), "shop_transaction_id": shop_transaction_id}


def set_accept_body(
    shop_id: str, secret: str, octo_payment_uuid: str, accept_status: str
) -> dict[str, Any]:
    if accept_status not in ("capture", "cancel"):
        raise ValueError("accept_status is capture or cancel")
    return {
        **credentials_body(shop_id, secret),
        "octo_payment_UUID": octo_payment_uuid,
        "accept_status": accept_status,
    }


def refund_body(
    shop_id: str,
    secret: str,
    *,
    shop_refund_id: str,
    octo_payment_uuid: str,
    amount: int,
    currency: str,
) -> dict[str, Any]:
    return {
        "octo_shop_id": int(shop_id),
        "shop_refund_id": shop_refund_id,
        "octo_secret": secret,
        "octo_payment_UUID": octo_payment_uuid,
        "amount": amount_of(amount, currency),
    }


def _digits(phone: str | None) -> str | None:
    if not phone:
        return None
    digits = "".join(c for c in phone if c.isdigit())
    return digits or None


# -- responses ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentState:
    """OCTO's view of one payment (prepare_payment, status check, set_accept)."""

    shop_transaction_id: str
    octo_payment_uuid: str
    status: str
    pay_url: str = ""
    total_sum: Any = None  # as sent (Decimal or str); None when OCTO left it out


@dataclass(frozen=True)
class RefundState:
    refund_id: str
    status: str  # new, succeeded, pending, canceled, unknown, error
    octo_payment_uuid: str = ""


def unwrap(payload: Any) -> dict[str, Any]:
    """The response's fields: `data` merged over the top level; OctoRefused if error != 0."""
    if not isinstance(payload, dict):
        raise ProtocolError("OCTO's answer is not a JSON object")
    error = payload.get("error", 0)
    try:
        code = int(error) if error is not None else 0
    except (TypeError, ValueError):
        raise ProtocolError(f"OCTO's error is not a number: {error!r}") from None
    if code != 0:
        message = (
            payload.get("errMessage")
            or payload.get("errorMessage")
            or payload.get("apiMessageForDevelopers")
            or "no message"
        )
        raise OctoRefused(code, str(message))
    data = payload.get("data")
    fields = {k: v for k, v in payload.items() if k != "data"}
    if isinstance(data, dict):
        fields.update(data)
    return fields


def payment_state(payload: Any) -> PaymentState:
    fields = unwrap(payload)
    uuid = fields.get("octo_payment_UUID") or fields.get("octo_payment_uuid")
    status = fields.get("status")
    if not isinstance(uuid, str) or not uuid or not isinstance(status, str) or not status:
        raise ProtocolError("OCTO's answer lacks octo_payment_UUID or status")
    return PaymentState(
        shop_transaction_id=str(fields.get("shop_transaction_id") or ""),
        octo_payment_uuid=uuid,
        status=status.strip().lower(),
        pay_url=str(fields.get("octo_pay_url") or ""),
        total_sum=fields.get("total_sum"),
    )


def refund_state(payload: Any) -> RefundState:
    fields = unwrap(payload)
    status = fields.get("status")
    if not isinstance(status, str) or not status:
        raise ProtocolError("OCTO's refund answer lacks a status")
    return RefundState(
        refund_id=str(fields.get("refund_id") or ""),
        status=status.strip().lower(),
        octo_payment_uuid=str(fields.get("octo_payment_UUID") or ""),
    )


# -- notifications ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    shop_transaction_id: str
    octo_payment_uuid: str
    status: str
    signature: str
    hash_key: str
    total_sum: Any = None
    refunded_sum: Any = None
    fields: Mapping[str, Any] | None = None


def parse_notification(raw: bytes) -> Notification:
    try:
        payload = loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("the notification is not JSON") from None
    if not isinstance(payload, dict):
        raise ProtocolError("the notification is not a JSON object")
    missing = [
        name
        for name in ("shop_transaction_id", "octo_payment_UUID", "status", "signature")
        if not isinstance(payload.get(name), str) or not payload[name]
    ]
    if missing:
        raise ProtocolError(f"missing {', '.join(missing)}")
    return Notification(
        shop_transaction_id=payload["shop_transaction_id"],
        octo_payment_uuid=payload["octo_payment_UUID"],
        status=payload["status"].strip().lower(),
        signature=payload["signature"],
        hash_key=str(payload.get("hash_key") or ""),
        total_sum=payload.get("total_sum"),
        refunded_sum=payload.get("refunded_sum"),
        fields=payload,
    )


def _sha1(text: str) -> str:
    """Lower-case hex, as hashlib writes it. SHA-1 is what OCTO signs with;
    usedforsecurity=False keeps FIPS builds working."""
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def signature_hash_key(secret: str, hash_key: str, uuid: str, status: str) -> str:
    """Scheme A: SHA1(hex(SHA1(secret + hash_key)) + uuid + status), upper-case hex. The inner
    hex is lower-case (the spec's computed vector is made that way)."""
    return _sha1(_sha1(secret + hash_key) + uuid + status).upper()


def signature_unique_key(unique_key: str, uuid: str, status: str) -> str:
    """Scheme B: SHA1(unique_key + uuid + status), upper-case hex."""
    return _sha1(unique_key + uuid + status).upper()


def expected_signatures(
    scheme: str, *, secret: str, unique_key: str, hash_key: str, uuid: str, status: str
) -> list[str]:
    candidates = []
    if scheme in (Scheme.HASH_KEY, Scheme.EITHER) and hash_key:
        candidates.append(signature_hash_key(secret, hash_key, uuid, status))
    if scheme in (Scheme.UNIQUE_KEY, Scheme.EITHER) and unique_key:
        candidates.append(signature_unique_key(unique_key, uuid, status))
    return candidates


def signature_matches(
    notification: Notification, scheme: str, *, secret: str, unique_key: str
) -> bool:
    """Whether the notification's signature is one of the scheme's, ignoring case, compared in
    constant time. The status is hashed exactly as OCTO sent it."""
    raw_status = str((notification.fields or {}).get("status", notification.status))
    given = notification.signature.strip().upper().encode()
    matched = False
    for expected in expected_signatures(
        scheme,
        secret=secret,
        unique_key=unique_key,
        hash_key=notification.hash_key,
        uuid=notification.octo_payment_uuid,
        status=raw_status,
    ):
        matched |= hmac.compare_digest(expected.encode(), given)
    return matched
