"""Which language a customer-facing page speaks."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import translation

from kassa.core.validation import SUPPORTED_LOCALES

SESSION_KEY = "kassa_lang"
# The language switch on customer pages: each language named in itself.
LANGUAGE_CHOICES = [("en", "English"), ("de", "Deutsch"), ("ru", "Русский"), ("uz", "Oʻzbekcha")]


def page_locale(request: HttpRequest, *preferences: str | None) -> str:
    """`?lang=` (remembered for the visit), then the given preferences (customer,
    organization), then the browser's languages."""
    chosen = request.GET.get("lang")
    if chosen in SUPPORTED_LOCALES:
        if hasattr(request, "session"):
            request.session[SESSION_KEY] = chosen
        return str(chosen)
    remembered = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    for candidate in (remembered, *preferences):
        if candidate and candidate in SUPPORTED_LOCALES:
            return str(candidate)
    browser = translation.get_language_from_request(request)
    return browser if browser in SUPPORTED_LOCALES else "en"
