"""Field checks shared by the API, the admin and the CLI. Each raises `InvalidRequest`
naming the parameter at fault."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from kassa.core.errors import DateOutOfRange, InvalidCharacters, InvalidRequest
from kassa.core.models import LOCALES
from kassa.core.text import unstorable_path

E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
SUPPORTED_LOCALES = {code for code, _ in LOCALES}
METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500
# Every date Kassa accepts (decision 036): wide enough for any booking or filter, narrow enough
# that date arithmetic in any time zone cannot overflow.
DATE_MIN = dt.date(1970, 1, 1)
DATE_MAX = dt.date(2100, 12, 31)


def refuse_unstorable(value: Any, param: str) -> None:
    """Raise 422 `invalid_characters` naming the field when any text in `value` holds NUL or
    a lone surrogate (the API's schemas, the admin, the portal and the CLI all apply it)."""
    found = unstorable_path(value, param)
    if found is not None:
        raise InvalidCharacters(
            f"{found}: text may not contain NUL characters or lone surrogates "
            "(U+0000, U+D800 to U+DFFF).",
            param=found,
        )


def validate_email(value: str, param: str = "email") -> str:
    value = value.strip()
    try:
        EmailValidator()(value)
    except ValidationError:
        raise InvalidRequest(f"{value!r} is not a valid email address.", param=param) from None
    return value


def validate_phone(value: str, param: str = "phone") -> str:
    """Phone numbers are stored in E.164 (+998901234567); spaces and dashes are dropped."""
    cleaned = re.sub(r"[\s\-()]", "", value)
    if not E164_RE.match(cleaned):
        raise InvalidRequest(
            f"{value!r} is not a phone number in international format such as +998901234567.",
            param=param,
        )
    return cleaned


def validate_locale(value: str, param: str = "locale") -> str:
    value = value.strip().lower()
    if value not in SUPPORTED_LOCALES:
        raise InvalidRequest(
            f"Unsupported locale {value!r}; use one of {', '.join(sorted(SUPPORTED_LOCALES))}.",
            param=param,
        )
    return value


def validate_timezone(value: str, param: str = "timezone") -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest(
            f"Unknown time zone {value!r}; use an IANA name such as Asia/Tashkent.", param=param
        ) from None
    return value


def validate_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """Metadata follows Stripe's rules: up to 50 string keys of 40 characters, string values
    of up to 500 characters."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest("Metadata must be an object of string keys and values.", param=param)
    if len(value) > METADATA_MAX_KEYS:
        raise InvalidRequest(f"Metadata may hold at most {METADATA_MAX_KEYS} keys.", param=param)
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > METADATA_KEY_MAX:
            raise InvalidRequest(
                f"Metadata keys are non-empty strings of at most {METADATA_KEY_MAX} characters.",
                param=f"{param}[{key}]",
            )
        if not isinstance(item, str) or len(item) > METADATA_VALUE_MAX:
            raise InvalidRequest(
                f"Metadata values are strings of at most {METADATA_VALUE_MAX} characters.",
                param=f"{param}[{key}]",
            )
    return dict(value)


def in_date_range(value: dt.date) -> bool:
    """Whether a date (or a datetime's date) lies in DATE_MIN..DATE_MAX."""
    day = value.date() if isinstance(value, dt.datetime) else value
    return DATE_MIN <= day <= DATE_MAX


def validate_date(value: dt.date, param: str) -> dt.date:
    if not in_date_range(value):
        raise DateOutOfRange(
            f"{param}: dates lie between {DATE_MIN.isoformat()} and {DATE_MAX.isoformat()}.",
            param=param,
        )
    return value
