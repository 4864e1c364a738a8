"""Click SHOP API wire format: request parsing, the MD5 `sign_string`, the error table, replies.

Pure functions only (no database): `kassa.payments.gateways.click.services` decides what a
valid request does. Facts from the team's gateway spec §2 (docs.click.uz/shop-api/requests and
/errors, read through a third-party mirror and cross-checked against two packages).

- Click POSTs `application/x-www-form-urlencoded`; we answer flat JSON with HTTP 200.
- Prepare (action 0): sign_string = md5(click_trans_id + service_id + SECRET_KEY +
  merchant_trans_id + amount + action + sign_time).
- Complete (action 1): the same with merchant_prepare_id after merchant_trans_id.
- Every field is hashed exactly as received (`amount="1000.00"` stays "1000.00").

UNCONFIRMED (spec §8.2): the formulas were not read verbatim on docs.click.uz; both packages
and the mirror agree on them. No official test vector exists; ours are computed (spec §2.6).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any
from urllib.parse import parse_qsl

from kassa.core.money import InvalidAmount, from_decimal
from kassa.core.text import unstorable_path

PREPARE = 0
COMPLETE = 1

_DIGITS = re.compile(r"^[0-9]{1,19}$")
_DECIMAL = re.compile(r"^[0-9]{1,16}(\.[0-9]{1,16})?$")
_INTEGER = re.compile(r"^-?[0-9]{1,10}$")
_BIGINT_MAX = 2**63 - 1


class ClickError(IntEnum):
    """What the merchant answers in `error` (spec §2.4)."""

    SUCCESS = 0
    SIGN_CHECK_FAILED = -1
    INCORRECT_AMOUNT = -2
    ACTION_NOT_FOUND = -3
    ALREADY_PAID = -4
    USER_NOT_FOUND = -5
    TRANSACTION_NOT_FOUND = -6
    FAILED_TO_UPDATE = -7
    BAD_REQUEST = -8
    TRANSACTION_CANCELLED = -9


# The error_note Click documents for each code, sent verbatim.
ERROR_NOTES: dict[ClickError, str] = {
    ClickError.SUCCESS: "Success",
    ClickError.SIGN_CHECK_FAILED: "SIGN CHECK FAILED!",
    ClickError.INCORRECT_AMOUNT: "Incorrect parameter amount",
    ClickError.ACTION_NOT_FOUND: "Action not found",
    ClickError.ALREADY_PAID: "Already paid",
    ClickError.USER_NOT_FOUND: "User does not exist",
    ClickError.TRANSACTION_NOT_FOUND: "Transaction does not exist",
    ClickError.FAILED_TO_UPDATE: "Failed to update user",
    ClickError.BAD_REQUEST: "Error in request from click",
    ClickError.TRANSACTION_CANCELLED: "Transaction cancelled",
}

# Fields every request carries; error_note may be empty and is optional here (free text).
_COMMON = (
    "click_trans_id",
    "service_id",
    "click_paydoc_id",
    "merchant_trans_id",
    "amount",
    "action",
    "error",
    "sign_time",
    "sign_string",
)


class ProtocolError(Exception):
    """A request refused before any business logic, with the code to answer."""

    def __init__(self, code: ClickError, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class ClickRequest:
    """A verified Prepare or Complete request. The raw strings are kept for the record."""

    action: int
    click_trans_id: int
    service_id: str
    click_paydoc_id: int
    merchant_trans_id: str
    merchant_prepare_id: int | None  # Complete only
    amount: str  # so'm, exactly as received
    error: int  # Click's own status: 0 = ok, < 0 = Click-side failure (cancel)
    error_note: str
    sign_time: str


def sign(fields: Mapping[str, str], secret_key: str) -> str:
    """The sign_string Click sends with `fields` (lowercase hex MD5).

    Prepare carries no merchant_prepare_id, so one concatenation serves both actions, as in
    both reference packages; Complete inserts it after merchant_trans_id."""
    source = (
        fields.get("click_trans_id", "")
        + fields.get("service_id", "")
        + secret_key
        + fields.get("merchant_trans_id", "")
        + (fields.get("merchant_prepare_id", "") if fields.get("action") == str(COMPLETE) else "")
        + fields.get("amount", "")
        + fields.get("action", "")
        + fields.get("sign_time", "")
    )
    # MD5 is what the protocol prescribes; it authenticates, it does not protect secrets here.
    return hashlib.md5(source.encode("utf-8"), usedforsecurity=False).hexdigest()


def signature_matches(fields: Mapping[str, str], secret_key: str) -> bool:
    """Constant-time, case-insensitive comparison of the received sign_string."""
    received = fields.get("sign_string", "").strip().lower()
    return hmac.compare_digest(
        received.encode("ascii", "replace"), sign(fields, secret_key).encode()
    )


def parse_form(body: bytes) -> dict[str, str] | None:
    """The form fields, or None when the body is not a well-formed form (or repeats a field)."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError):
        return None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            return None
        fields[name] = value
    return fields


def parse(fields: Mapping[str, str], *, secret_key: str, service_id: str) -> ClickRequest:
    """Validate a request in the order that gives Click's documented codes; raise ProtocolError.

    1. -8 a field is missing; 2. -3 action is not 0 or 1; 3. -1 the signature is wrong;
    4. -8 a field is malformed, holds NUL, or service_id is not this account's. The amount itself is
    judged later against the payment (-2)."""
    action_raw = fields.get("action")
    if action_raw is None or action_raw == "":
        raise ProtocolError(ClickError.BAD_REQUEST, "action is missing")
    if action_raw not in (str(PREPARE), str(COMPLETE)):
        raise ProtocolError(ClickError.ACTION_NOT_FOUND, f"unknown action {action_raw!r}")
    action = int(action_raw)
    required = _COMMON + (("merchant_prepare_id",) if action == COMPLETE else ())
    missing = [name for name in required if not fields.get(name)]
    if missing:
        raise ProtocolError(ClickError.BAD_REQUEST, f"missing {', '.join(missing)}")
    if not signature_matches(fields, secret_key):
        raise ProtocolError(ClickError.SIGN_CHECK_FAILED, "sign_string does not match")
    click_trans_id = _bigint(fields["click_trans_id"], "click_trans_id")
    click_paydoc_id = _bigint(fields["click_paydoc_id"], "click_paydoc_id")
    prepare_id = (
        _bigint(fields["merchant_prepare_id"], "merchant_prepare_id")
        if action == COMPLETE
        else None
    )
    if not _INTEGER.match(fields["error"]):
        raise ProtocolError(ClickError.BAD_REQUEST, "error is not an integer")
    if fields["service_id"] != service_id:
        raise ProtocolError(ClickError.BAD_REQUEST, "service_id is not this account's")
    unstorable = unstorable_path(dict(fields), "")
    if unstorable is not None:  # PostgreSQL cannot store NUL (decision 036)
        raise ProtocolError(ClickError.BAD_REQUEST, f"{unstorable} holds NUL")
    return ClickRequest(
        action=action,
        click_trans_id=click_trans_id,
        service_id=fields["service_id"],
        click_paydoc_id=click_paydoc_id,
        merchant_trans_id=fields["merchant_trans_id"],
        merchant_prepare_id=prepare_id,
        amount=fields["amount"],
        error=int(fields["error"]),
        error_note=fields.get("error_note", ""),
        sign_time=fields["sign_time"],
    )


def amount_in_tiyin(amount: str) -> int | None:
    """Click's so'm amount as UZS minor units, or None when it is not an exact plain decimal.

    "1000", "1000.0" and "1000.00" are all 100000; "1000.001" (finer than a tiyin), "1e3",
    "-5" and " 1000" are not amounts."""
    if not _DECIMAL.match(amount):
        return None
    try:
        return from_decimal(amount, "UZS")
    except InvalidAmount:
        return None


def _bigint(value: str, name: str) -> int:
    if not _DIGITS.match(value) or int(value) > _BIGINT_MAX:
        raise ProtocolError(ClickError.BAD_REQUEST, f"{name} is not a 64-bit id")
    return int(value)


def reply(
    code: ClickError,
    *,
    action: int | None,
    click_trans_id: Any = None,
    merchant_trans_id: str | None = None,
    merchant_id: int | None = None,
) -> bytes:
    """The flat JSON answer. Prepare answers carry merchant_prepare_id, Complete answers
    merchant_confirm_id (null when there is none, as Click allows); the other fields echo
    the request."""
    id_key = "merchant_confirm_id" if action == COMPLETE else "merchant_prepare_id"
    body = {
        "click_trans_id": click_trans_id,
        "merchant_trans_id": merchant_trans_id,
        id_key: merchant_id,
        "error": int(code),
        "error_note": ERROR_NOTES[code],
    }
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def echo_trans_id(fields: Mapping[str, str] | None) -> Any:
    """click_trans_id as a number when it is one (Click's type), else as received or null."""
    raw = (fields or {}).get("click_trans_id")
    if raw is not None and _DIGITS.match(raw) and int(raw) <= _BIGINT_MAX:
        return int(raw)
    return raw
