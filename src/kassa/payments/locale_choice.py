"""Which language a customer-facing page speaks."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import translation

from kassa.core.validation import SUPPORTED_LOCALES


def page_locale(request: HttpRequest, *preferences: str | None) -> str:
    """`?lang=` first, then the given preferences (customer, organization), then the browser."""
    for candidate in (request.GET.get("lang"), *preferences):
        if candidate and candidate in SUPPORTED_LOCALES:
            return candidate
    browser = translation.get_language_from_request(request)
    return browser if browser in SUPPORTED_LOCALES else "en"
