"""Payme Merchant API wire format: JSON-RPC parsing, Basic auth, the error table, replies.

Pure functions only (no database): `kassa.payments.gateways.payme.services` decides what a
valid call does. Facts from the team's gateway spec §1 (developer.help.paycom.uz and the
official PaycomUZ templates):

- Payme POSTs a JSON-RPC 2.0 object `{"method", "params", "id"}`; the content type is not to
  be trusted (Payme sends `text/json`), so the body is parsed whatever it says.
- Every answer is HTTP 200; errors travel in `error: {code, message, data}` with the
  message in ru, uz and en.
- Auth is HTTP Basic `login:KEY`. UNCONFIRMED which part Payme expects us to check: the
  official PHP template compares the whole `login:key`, the packages only the key. Kassa
  checks the key, and the login only when the account's `login` option is set.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

LANGUAGES = ("ru", "uz", "en")
MAX_ID_LENGTH = 64  # Payme's ids are 24 characters; a little tolerance, never unbounded


class PaymeError(IntEnum):
    """Error codes of the Merchant API (spec §1.5)."""

    METHOD_NOT_POST = -32300
    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INSUFFICIENT_PRIVILEGE = -32504
    SYSTEM_ERROR = -32400
    WRONG_AMOUNT = -31001
    TRANSACTION_NOT_FOUND = -31003
    CANNOT_CANCEL = -31007
    CANNOT_PERFORM = -31008
    # -31050..-31099: the user's `account` input; `data` names the account field.
    ACCOUNT_NOT_FOUND = -31050
    ACCOUNT_BUSY = -31051  # another transaction holds this one-time account (order)
    ACCOUNT_PAID = -31052
    ACCOUNT_CLOSED = -31053  # canceled, expired or failed: it can no longer be paid


# The messages, keyed by a short name. Rendered once per language through Django's i18n.
MESSAGES: dict[str, Promise] = {
    "not_post": _("The request method must be POST."),
    "parse": _("The request is not valid JSON."),
    "invalid": _("The JSON-RPC request is invalid."),
    "method": _("The method is not found."),
    "auth": _("Insufficient privilege to perform this method."),
    "system": _("System error; try again later."),
    "amount": _("Wrong amount."),
    "not_found": _("The transaction is not found."),
    "cannot_cancel": _("The order is fulfilled; the transaction cannot be cancelled."),
    "cannot_perform": _("This operation cannot be performed in the transaction's state."),
    "expired": _("The transaction has expired."),
    "order_not_found": _("The order is not found."),
    "order_busy": _("The order is being paid by another transaction."),
    "order_paid": _("The order is already paid."),
    "order_closed": _("The order can no longer be paid."),
    "password": _("The new password is empty."),
    "same_password": _("The new password is the same as the current one."),
}

DEFAULT_MESSAGE: dict[PaymeError, str] = {
    PaymeError.METHOD_NOT_POST: "not_post",
    PaymeError.PARSE_ERROR: "parse",
    PaymeError.INVALID_REQUEST: "invalid",
    PaymeError.METHOD_NOT_FOUND: "method",
    PaymeError.INSUFFICIENT_PRIVILEGE: "auth",
    PaymeError.SYSTEM_ERROR: "system",
    PaymeError.WRONG_AMOUNT: "amount",
    PaymeError.TRANSACTION_NOT_FOUND: "not_found",
    PaymeError.CANNOT_CANCEL: "cannot_cancel",
    PaymeError.CANNOT_PERFORM: "cannot_perform",
    PaymeError.ACCOUNT_NOT_FOUND: "order_not_found",
    PaymeError.ACCOUNT_BUSY: "order_busy",
    PaymeError.ACCOUNT_PAID: "order_paid",
    PaymeError.ACCOUNT_CLOSED: "order_closed",
}


@lru_cache(maxsize=64)
def localized(key: str) -> dict[str, str]:
    """`{"ru", "uz", "en"}` texts of a message (translations do not change at run time)."""
    text: dict[str, str] = {}
    for language in LANGUAGES:
        with translation.override(language):
            text[language] = str(MESSAGES[key])
    return text


class PaymeFault(Exception):
    """A call answered with an error. `data` is what Payme should see in `error.data`."""

    def __init__(self, code: PaymeError, data: Any = None, message: str | None = None) -> None:
        self.code = code
        self.data = data
        self.message_key = message or DEFAULT_MESSAGE[code]
        super().__init__(f"{int(code)} {self.message_key} {data!r}")


@dataclass(frozen=True)
class Call:
    """A well-formed JSON-RPC call (the params are checked by each method)."""

    method: str
    params: dict[str, Any]
    id: Any


class Malformed(Exception):
    """The body is not a JSON-RPC call; answered with `code` and whatever `id` could be read."""

    def __init__(self, code: PaymeError, request_id: Any = None, data: Any = None) -> None:
        super().__init__(int(code))
        self.code = code
        self.request_id = request_id
        self.data = data


def parse_call(body: bytes) -> Call:
    """Parse the body; raise Malformed with -32700 (not JSON) or -32600 (not a call)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Malformed(PaymeError.PARSE_ERROR) from None
    if not isinstance(payload, dict):
        raise Malformed(PaymeError.INVALID_REQUEST)
    request_id = payload.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int | str):
        raise Malformed(PaymeError.INVALID_REQUEST, data="id")
    method = payload.get("method")
    if not isinstance(method, str) or not method:
        raise Malformed(PaymeError.INVALID_REQUEST, request_id, data="method")
    params = payload.get("params")
    if not isinstance(params, dict):
        raise Malformed(PaymeError.INVALID_REQUEST, request_id, data="params")
    return Call(method=method, params=params, id=request_id)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(login, password) from an `Authorization: Basic ...` header, or None."""
    if not header:
        return None
    scheme, _sep, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, sep, password = decoded.partition(":")
    if not sep:
        return None
    return login, password


def authorized(header: str | None, key: str, login: str = "") -> bool:
    """Whether the header carries this account's key (and login, when one is configured)."""
    credentials = basic_credentials(header)
    if credentials is None or not key:
        return False
    got_login, got_key = credentials
    key_ok = hmac.compare_digest(got_key.encode(), key.encode())
    login_ok = not login or hmac.compare_digest(got_login.encode(), login.encode())
    return key_ok and login_ok


def authorization_header(key: str, login: str = "Paycom") -> str:
    token = base64.b64encode(f"{login}:{key}".encode()).decode()
    return f"Basic {token}"


# -- params -----------------------------------------------------------------------------------


def param_id(params: dict[str, Any], name: str = "id") -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise PaymeFault(PaymeError.INVALID_REQUEST, name)
    return value


def param_timestamp(params: dict[str, Any], name: str) -> int:
    """A Payme Timestamp: milliseconds since the epoch (13 digits for any current date)."""
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 10**15:
        raise PaymeFault(PaymeError.INVALID_REQUEST, name)
    return value


def param_amount(params: dict[str, Any]) -> int:
    """The amount in tiyin: a positive integer. Anything else is a wrong amount (-31001).

    Tolerant of `500000.0` (an integral float), which JSON encoders sometimes produce."""
    value = params.get("amount")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value >= 2**63:
        raise PaymeFault(PaymeError.WRONG_AMOUNT, "amount")
    return value


def param_account(params: dict[str, Any], field: str) -> str:
    """The account field's value (the Kassa payment id) as a string; -31050 naming it."""
    account = params.get("account")
    if not isinstance(account, dict):
        raise PaymeFault(PaymeError.ACCOUNT_NOT_FOUND, field)
    value = account.get(field)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_LENGTH:
        raise PaymeFault(PaymeError.ACCOUNT_NOT_FOUND, field)
    return value.strip()


def param_int(params: dict[str, Any], name: str) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**31:
        raise PaymeFault(PaymeError.INVALID_REQUEST, name)
    return value


# -- replies ----------------------------------------------------------------------------------


def result(request_id: Any, value: dict[str, Any]) -> bytes:
    return _dump({"jsonrpc": "2.0", "id": request_id, "result": value})


def error(
    request_id: Any, code: PaymeError, data: Any = None, message_key: str | None = None
) -> bytes:
    body = {
        "code": int(code),
        "message": localized(message_key or DEFAULT_MESSAGE[code]),
        "data": data,
    }
    return _dump({"jsonrpc": "2.0", "id": request_id, "error": body})


def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
