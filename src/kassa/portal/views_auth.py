"""Signing in and out of the portal."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from kassa.core.actors import client_address
from kassa.payments.locale_choice import page_locale
from kassa.portal import session, signin

LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("ru", "Русский"), ("uz", "Oʻzbekcha")]


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    locale = page_locale(request)
    with translation.override(locale):
        if request.method == "GET":
            if session.current(request) is not None:
                return HttpResponseRedirect("/portal/")
            return render(request, "portal/sign_in.html", {"languages": LANGUAGES})
        email = request.POST.get("email", "").strip()
        try:
            validate_email(email)
        except ValidationError:
            context = {
                "languages": LANGUAGES,
                "email": email,
                "error": _("Enter a valid email address."),
            }
            return render(request, "portal/sign_in.html", context, status=400)
        try:
            signin.request_link(email, ip_address=client_address(request), page_locale=locale)
        except signin.TooManyRequests:
            context = {
                "languages": LANGUAGES,
                "email": email,
                "error": _("Too many sign-in links were requested. Please wait a few minutes."),
            }
            response = render(request, "portal/sign_in.html", context, status=429)
            response["Retry-After"] = str(int(signin.RATE_WINDOW.total_seconds()))
            return response
        # The same answer whether or not the address belongs to a customer.
        return render(request, "portal/sign_in_sent.html", {"email": email})


@require_http_methods(["GET", "POST"])
def sign_in_link(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button and POST spends the link: mail scanners that open links must not
    use up a single-use link before the customer does."""
    locale = page_locale(request)
    if request.method == "GET":
        target = signin.link_target(token)
        if target is not None and target.customer is not None:
            locale = page_locale(
                request,
                target.customer.locale,
                target.organization.locale if target.organization else None,
            )
        with translation.override(locale):
            if target is None:
                return render(request, "portal/link_invalid.html", status=410)
            return render(
                request,
                "portal/sign_in_confirm.html",
                {"token": token, "organization": target.organization, "customer": target.customer},
            )
    with translation.override(locale):
        try:
            signed_in = signin.use_link(token)
        except signin.LinkInvalid:
            return render(request, "portal/link_invalid.html", status=410)
        session.sign_in(request, signed_in.customer_id, signed_in.organization_id)
        return HttpResponseRedirect("/portal/")


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    session.sign_out(request)
    return HttpResponseRedirect("/portal/sign-in")
