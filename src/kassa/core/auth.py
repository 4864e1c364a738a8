"""Bearer API-key authentication for the REST API."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from kassa.core.errors import AuthenticationFailed, LiveModeNotAllowed
from kassa.core.models import ApiKey, Organization
from kassa.core.services import authenticate_api_key


class ApiKeyAuth(HttpBearer):
    openapi_description = "A secret API key: `Authorization: Bearer sk_test_...`"

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey:
        # The idempotency middleware may already have looked the key up.
        key: ApiKey | None = getattr(request, "kassa_api_key", None) or authenticate_api_key(token)
        if key is None:
            raise AuthenticationFailed("Invalid API key provided.")
        request.kassa_api_key = key  # type: ignore[attr-defined]
        return key


def api_key_of(request: HttpRequest) -> ApiKey:
    key = getattr(request, "auth", None)
    if not isinstance(key, ApiKey):  # pragma: no cover - the router's auth guarantees it
        raise AuthenticationFailed()
    return key


def organization_of(request: HttpRequest) -> Organization:
    return api_key_of(request).organization


def require_test_mode(request: HttpRequest) -> None:
    if api_key_of(request).livemode:
        raise LiveModeNotAllowed()


def bearer_token(request: HttpRequest) -> str | None:
    header: Any = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return str(token.strip())
