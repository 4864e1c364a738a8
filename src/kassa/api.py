"""The REST API at /v1/: one NinjaAPI, the routers of every app, and the error object."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from kassa.bookings.api import router as bookings_router
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


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details = []
    for item in exc.errors:
        loc = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path")]
        details.append({"param": ".".join(loc) or None, "message": item.get("msg", "")})
    first = details[0] if details else {"param": None, "message": "Invalid request."}
    error = ValidationFailed(
        f"{first['param']}: {first['message']}" if first["param"] else first["message"],
        param=first["param"],
    )
    return _render(request, error, errors=details)


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
