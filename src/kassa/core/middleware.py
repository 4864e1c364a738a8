"""Request guards that run before anything reads the body."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from kassa.core.api_input import error_response
from kassa.core.errors import RequestTooLarge


class RequestSizeLimitMiddleware(MiddlewareMixin):
    """Refuse bodies over `KASSA_MAX_REQUEST_BYTES` with 413 before reading them."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit: int = settings.KASSA_MAX_REQUEST_BYTES
        if length > limit:
            error = RequestTooLarge(f"The request body exceeds {limit} bytes.")
            if request.path.startswith("/v1/"):
                return error_response(error)
            return HttpResponse(error.message, status=413, content_type="text/plain")
        return None


class AdminContentSecurityPolicyMiddleware(MiddlewareMixin):
    """The admin's policy. django-unfold builds its interface with Alpine.js, which evaluates
    expressions written in HTML attributes and ships inline scripts without our nonce; under
    the strict site-wide policy the admin's menus, modals and login button stop working. Only
    staff pages get the looser script policy; pay pages, the portal and checkout keep theirs.
    Placed after Django's CSP middleware so it sees the response first."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if request.path.startswith("/admin/"):
            response._csp_config = settings.KASSA_ADMIN_CSP  # type: ignore[attr-defined]
        return response
