"""The REST API at /v1/: one NinjaAPI, the routers of every app, and the error object."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from kassa.bookings.api import router as bookings_router
from kassa.core.api_input import StrictParser
from kassa.core.auth import ApiKeyAuth
from kassa.core.errors import (
    ApiError,
    AuthenticationFailed,
    InvalidRequest,
    KassaError,
    RequestTooLarge,
    ResourceMissing,
    ValidationFailed,
)
from kassa.customers.api import router as customers_router
from kassa.events.api import router as events_router
from kassa.notifications.api import router as notifications_router
from kassa.payments.api import router as payments_router
from kassa.wallets.api import router as wallets_router

logger = logging.getLogger("kassa.api")

api = NinjaAPI(
    title="Kassa API",
    version="1",
    description=(
        "Payments, balances and billing. Amounts are integers in minor units with an ISO 4217 "
        "currency; ids are prefixed strings; every POST accepts an `Idempotency-Key`."
    ),
    auth=ApiKeyAuth(),
    parser=StrictParser(),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
)


def _render(request: HttpRequest, error: KassaError, **extra: Any) -> HttpResponse:
    body = {"error": {**error.as_dict(), **extra}}
    return api.create_response(request, body, status=error.status)


@api.exception_handler(KassaError)
def _kassa_error(request: HttpRequest, exc: KassaError) -> HttpResponse:
    return _render(request, exc)


# pydantic's error types, named as Stripe names the same rules; `errors` lists each problem.
_CODES = {
    "missing": "parameter_missing",
    "extra_forbidden": "parameter_unknown",
    "int_type": "parameter_invalid_integer",
    "int_parsing": "parameter_invalid_integer",
    "int_from_float": "parameter_invalid_integer",
    "string_type": "parameter_invalid_string",
    "bool_type": "parameter_invalid_boolean",
    "bool_parsing": "parameter_invalid_boolean",
    "list_type": "parameter_invalid_array",
    "dict_type": "parameter_invalid_object",
    "model_type": "parameter_invalid_object",
    "model_attributes_type": "parameter_invalid_object",
    "date_type": "parameter_invalid_date",
    "date_parsing": "parameter_invalid_date",
    "date_from_datetime_parsing": "parameter_invalid_date",
    "date_from_datetime_inexact": "parameter_invalid_date",
    "datetime_type": "parameter_invalid_date",
    "datetime_parsing": "parameter_invalid_date",
    "datetime_from_date_parsing": "parameter_invalid_date",
    "date_out_of_range": "date_out_of_range",
    "string_too_short": "parameter_too_short",
    "string_too_long": "parameter_too_long",
    "too_short": "parameter_too_short",
    "too_long": "parameter_too_long",
    "greater_than": "parameter_out_of_range",
    "greater_than_equal": "parameter_out_of_range",
    "less_than": "parameter_out_of_range",
    "less_than_equal": "parameter_out_of_range",
    "literal_error": "parameter_invalid_choice",
    "enum": "parameter_invalid_choice",
}
_DATE_HINT = " (ISO 8601, for example 2026-12-07 or 2026-12-07T10:00:00Z)"


def _param(item: dict[str, Any]) -> str | None:
    path = ""
    for part in item.get("loc", ()):
        if part in ("body", "query", "path"):
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or None


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details = []
    for item in exc.errors:
        code = _CODES.get(str(item.get("type", "")), "validation_error")
        message = str(item.get("msg", ""))
        if code == "parameter_missing" and tuple(item.get("loc", ())) == ("body", "body"):
            message = "This request needs a JSON object as its body ({} when no field is set)."
        if code == "parameter_invalid_date":
            message += _DATE_HINT
        details.append({"param": _param(item), "code": code, "message": message})
    first = details[0] if details else {"param": None, "code": None, "message": "Invalid."}
    error = ValidationFailed(
        f"{first['param']}: {first['message']}" if first["param"] else str(first["message"]),
        param=first["param"],
    )
    body = {"error": {**error.as_dict(), "code": first["code"] or error.code, "errors": details}}
    return api.create_response(request, body, status=error.status)


@api.exception_handler(AuthenticationError)
def _no_credentials(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    error = AuthenticationFailed(
        "No valid API key provided; send Authorization: Bearer sk_test_... or sk_live_...."
    )
    return _render(request, error)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _render(request, ResourceMissing())


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _render(request, RequestTooLarge())


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, KassaError):  # the parser's refusal, wrapped by django-ninja
        return _render(request, exc.__cause__)
    body = {"error": {**InvalidRequest(str(exc)).as_dict()}}
    return api.create_response(request, body, status=exc.status_code)


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled API error", exc_info=exc)
    return _render(request, ApiError())


api.add_router("/", customers_router)
api.add_router("/", payments_router)
api.add_router("/", bookings_router)
api.add_router("/", wallets_router)
api.add_router("/", notifications_router)
api.add_router("/", events_router)
