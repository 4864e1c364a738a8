"""The API's schema layer: the error object, and the base classes every request schema derives
from, so that no field can forget the input rules (decision 036):

- text anywhere in a body or a query (keys included) may not hold NUL or a lone surrogate: 422
  `invalid_characters` naming the field;
- integers are strict: `true`, `"5"` and `5.0` are refused with 422 naming the field (bodies are
  validated in pydantic's strict mode; queries, which are text, take digits only);
- dates and times (the `Date` and `DateTime` types) lie between 1970-01-01 and 2100-12-31 and are
  ISO 8601; a time without an offset is UTC;
- a body names only the fields its schema has: an unknown one is a 422 `parameter_unknown`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, get_args, get_origin

from ninja import Field, Schema
from pydantic import (
    AfterValidator,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kassa.core.api_input import SUSPECT_ATTRIBUTE
from kassa.core.errors import ParameterOutOfRange
from kassa.core.validation import DATE_MAX, DATE_MIN, in_date_range, refuse_unstorable

_DIGITS = re.compile(r"-?[0-9]{1,18}")


class ErrorBody(Schema):
    type: str = Field(description="invalid_request_error, authentication_error, ...")
    code: str = Field(description="A stable, machine-readable code for the condition.")
    message: str
    param: str | None = None


class ErrorOut(Schema):
    error: ErrorBody


def _date_in_range(value: date) -> date:
    if not in_date_range(value):
        raise PydanticCustomError(
            "date_out_of_range",
            "Dates lie between {low} and {high}.",
            {"low": DATE_MIN.isoformat(), "high": DATE_MAX.isoformat()},
        )
    return value


def _aware(value: datetime) -> datetime:
    _date_in_range(value)
    # In UTC: PostgreSQL refuses offsets past ±15:59 (`-20:20` parses as ISO 8601, and was a
    # 500), and within 1970-2100 the conversion cannot leave the datetime range.
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


# Bodies are validated strictly, but JSON has no date type: these take ISO 8601 text.
Date = Annotated[date, Field(strict=False), AfterValidator(_date_in_range)]
DateTime = Annotated[datetime, Field(strict=False), AfterValidator(_aware)]
Time = Annotated[time, Field(strict=False)]


# No integer in Kassa's API comes near this (amounts stop at 12 digits); anything larger is
# refused before it can reach a BIGINT column.
MAX_INTEGER = 10**15


def _oversized_integer(value: Any, param: str) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return param if abs(value) > MAX_INTEGER else None
    if isinstance(value, dict):
        items: Any = ((f"{param}.{k}" if param else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{param}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for path, item in items:
        found = _oversized_integer(item, path)
        if found is not None:
            return found
    return None


def _refuse_unstorable_input(data: Any) -> Any:
    # A KassaError is not a ValueError, so pydantic lets it through to the API's handler,
    # which answers 422 with the field's full path.
    refuse_unstorable(data, "")
    found = _oversized_integer(data, "")
    if found is not None:
        raise ParameterOutOfRange(
            f"{found}: integers in this API lie between -{MAX_INTEGER} and {MAX_INTEGER}.",
            param=found,
        )
    return data


class InputSchema(Schema):
    """The base of every request body."""

    model_config = ConfigDict(from_attributes=False, strict=True, extra="forbid")

    # Replaces django-ninja's root validator (same name), which wraps the input for reading
    # attributes off ORM objects: a request body is a dict, validated as it is.
    @model_validator(mode="wrap")
    @classmethod
    def _run_root_validator(
        cls, values: Any, handler: ModelWrapValidatorHandler[Any], info: ValidationInfo
    ) -> Any:
        request = info.context.get("request") if isinstance(info.context, dict) else None
        if getattr(request, SUSPECT_ATTRIBUTE, True):  # see kassa.core.api_input
            _refuse_unstorable_input(values)
        return handler(values)


def _is_int_field(annotation: Any) -> bool:
    if annotation is int:
        return True
    return get_origin(annotation) is not None and int in get_args(annotation)


class QuerySchema(Schema):
    """The base of every query-string schema. Query values are text, so integers are given as
    digits: `limit=1.0`, `limit=true` and `limit= 5` are refused rather than read as numbers."""

    @field_validator("*", mode="before")
    @classmethod
    def _digits_for_integers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if (
            field is not None
            and isinstance(value, str)
            and _is_int_field(field.annotation)
            and not _DIGITS.fullmatch(value)
        ):
            raise PydanticCustomError("int_parsing", "Input should be a whole number in digits.")
        return value


__all__ = ["DATE_MAX", "DATE_MIN", "Date", "DateTime", "InputSchema", "QuerySchema", "Time"]
