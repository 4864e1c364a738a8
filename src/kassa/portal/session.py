"""The portal's customer session: who is signed in, and the decorator pages use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.utils import timezone, translation

from kassa.core import localtime
from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.payments.locale_choice import page_locale
from kassa.wallets.stream_state import PORTAL_SESSION_CUSTOMER

SESSION_ORGANIZATION = "kassa_portal_organization"
# A portal session ends after 12 hours, or when the browser closes if that comes first.
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class PortalUser:
    customer: Customer
    organization: Organization
    locale: str


def sign_in(request: HttpRequest, customer_id: str, organization_id: str) -> None:
    # A fresh session key on sign-in: a key planted before cannot be ridden into the account.
    request.session.cycle_key()
    request.session[PORTAL_SESSION_CUSTOMER] = customer_id
    request.session[SESSION_ORGANIZATION] = organization_id
    request.session.set_expiry(SESSION_SECONDS)


def sign_out(request: HttpRequest) -> None:
    request.session.pop(PORTAL_SESSION_CUSTOMER, None)
    request.session.pop(SESSION_ORGANIZATION, None)
    request.session.cycle_key()


def current(request: HttpRequest) -> PortalUser | None:
    customer_id = request.session.get(PORTAL_SESSION_CUSTOMER)
    organization_id = request.session.get(SESSION_ORGANIZATION)
    if not customer_id or not organization_id:
        return None
    customer = (
        Customer.objects.select_related("organization")
        .filter(pk=customer_id, organization_id=organization_id)
        .first()
    )
    if customer is None:
        return None
    locale = page_locale(request, customer.locale, customer.organization.locale)
    return PortalUser(customer=customer, organization=customer.organization, locale=locale)


View = Callable[..., HttpResponseBase]


def portal_login_required(view: View) -> View:
    """Signed-in customers only (others go to the sign-in page); the page speaks the
    customer's language and shows times on the organization's clock (its time zone)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = current(request)
        if user is None:
            return HttpResponseRedirect("/portal/sign-in")
        request.portal = user  # type: ignore[attr-defined]
        with (
            translation.override(user.locale),
            timezone.override(localtime.zone(user.organization.timezone)),
        ):
            response = view(request, *args, **kwargs)
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers["Content-Language"] = user.locale
            return response

    return wrapper


def portal_user(request: HttpRequest) -> PortalUser:
    user: PortalUser = request.portal  # type: ignore[attr-defined]
    return user
