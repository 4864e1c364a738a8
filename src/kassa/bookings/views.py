"""The customer's pay pages: /pay/<token> and the page the customer returns to.

Limits per IP address, counted in the database (kassa.bookings.ratelimit):
- Unknown tokens: after `KASSA_PAY_PROBE_LIMIT` of them in a ten-minute window, further unknown
  tokens from the address get 429 until the window ends. Only unknown tokens are refused: a
  valid link always opens, however much the address (a shared NAT, a customer's phone network)
  probed, so probing can neither find a token nor deny a customer their link. A 429 rather than
  a growing delay: a delay would hold one of the few request threads for each probe.
- Pages of a valid link: at most `KASSA_PAY_RATE_LIMIT` requests a minute per address. Probes do
  not count here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_GET, require_http_methods

from kassa.bookings import clock, links, ratelimit
from kassa.bookings.errors import BookingAlreadyPaid, PaymentLinkGone
from kassa.bookings.models import Booking, PaymentLink
from kassa.core.actors import client_address
from kassa.core.errors import KassaError
from kassa.core.money import format_money
from kassa.payments import services as payments
from kassa.payments.locale_choice import LANGUAGE_CHOICES, page_locale
from kassa.payments.models import Payment, PaymentStatus

MINUTE = timedelta(minutes=1)
PROBE_WINDOW = timedelta(minutes=10)
LANGUAGES = LANGUAGE_CHOICES


def _ip(request: HttpRequest) -> str:
    return client_address(request) or "unknown"


def _limits() -> tuple[int, int]:
    return (
        int(settings.KASSA_PAY_RATE_LIMIT),
        int(settings.KASSA_PAY_PROBE_LIMIT),
    )


def _too_many(request: HttpRequest, retry_after: int) -> HttpResponse:
    with translation.override(page_locale(request)):
        response = render(request, "bookings/pay_rate_limited.html", {"locale": None}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def _flooded(request: HttpRequest) -> HttpResponse | None:
    """The 429 for an address past its requests a minute to a valid link's pages, or None."""
    per_minute, _probes = _limits()
    if ratelimit.hit(f"pay:{_ip(request)}", window=MINUTE) > per_minute:
        return _too_many(request, ratelimit.seconds_left(window=MINUTE))
    return None


def _context(link: PaymentLink, booking: Booking, locale: str, **extra: Any) -> dict[str, Any]:
    paid = booking.paid_amount
    due = max(booking.total_amount - paid, 0)
    amount = links.amount_now(link, booking)

    def money(value: int) -> str:
        return format_money(value, booking.currency, locale)

    return {
        "link": link,
        "booking": booking,
        "merchant": booking.organization,
        "customer": booking.customer,
        "total": money(booking.total_amount),
        "paid": money(paid),
        "due": money(due),
        "amount": money(amount),
        "locale": locale,
        "languages": LANGUAGES,
        **extra,
    }


def _unknown(request: HttpRequest) -> HttpResponse:
    """The answer to an unknown token: 404, or 429 once the address has probed too many."""
    _per_minute, probes = _limits()
    if ratelimit.hit(f"probe:{_ip(request)}", window=PROBE_WINDOW) > probes:
        return _too_many(request, ratelimit.seconds_left(window=PROBE_WINDOW))
    with translation.override(page_locale(request)):
        return render(
            request,
            "bookings/pay_unknown.html",
            {"locale": translation.get_language(), "languages": LANGUAGES},
            status=404,
        )


def _state_page(
    request: HttpRequest, link: PaymentLink, context: dict[str, Any]
) -> HttpResponse | None:
    """The page for a link that cannot be paid, or None when it can."""
    booking = link.booking
    state = link.state(clock.now())
    if state == "used":
        return render(request, "bookings/pay_paid.html", context)
    if state == "invalidated" or booking.cancelled_at is not None:
        return render(request, "bookings/pay_invalidated.html", context, status=410)
    if booking.balance_due <= 0:
        return render(request, "bookings/pay_paid.html", context)
    if state == "expired":
        return render(request, "bookings/pay_expired.html", context, status=410)
    return None


@require_http_methods(["GET", "POST"])
def pay(request: HttpRequest, token: str) -> HttpResponse:
    link = links.find(token)
    if link is None:
        return _unknown(request)
    flooded = _flooded(request)
    if flooded is not None:
        return flooded
    booking = link.booking
    locale = page_locale(request, booking.customer.locale, booking.organization.locale)
    with translation.override(locale):
        context = _context(link, booking, locale, token=token)
        page = _state_page(request, link, context)
        if page is not None:
            return page
        accounts = payments.eligible_accounts(
            booking.organization_id, booking.currency, booking.livemode
        )
        if request.method == "POST":
            account_id = request.POST.get("gateway_account", "")
            try:
                payment = links.start_payment(link.id, account_id)
                session = payments.start_checkout(payment.id, account_id, locale)
            except (PaymentLinkGone, BookingAlreadyPaid):
                link.refresh_from_db()
                booking.forget_amounts()
                return _state_page(request, link, _context(link, booking, locale)) or render(
                    request, "bookings/pay_expired.html", context, status=410
                )
            except KassaError as exc:
                booking.forget_amounts()
                context = _context(
                    link, booking, locale, token=token, accounts=accounts, error=exc.localized()
                )
                return render(request, "bookings/pay.html", context, status=409)
            if session.form_fields:
                return render(
                    request,
                    "payments/redirect_form.html",
                    {
                        "action": session.redirect_url,
                        "fields": session.form_fields,
                        "locale": locale,
                    },
                )
            return HttpResponseRedirect(session.redirect_url)
        return render(request, "bookings/pay.html", {**context, "accounts": accounts})


@require_GET
def pay_return(request: HttpRequest, value: str) -> HttpResponse:
    """Where the customer lands after the provider: success, failure, or still waiting."""
    link_id = links.link_id_from_return_token(value)
    link = (
        PaymentLink.objects.select_related("booking__organization", "booking__customer", "payment")
        .filter(pk=link_id)
        .first()
        if link_id
        else None
    )
    if link is None:
        return _unknown(request)
    flooded = _flooded(request)
    if flooded is not None:
        return flooded
    booking = link.booking
    payment: Payment | None = link.payment
    asked = request.GET.get("payment_id")
    if asked and asked != link.payment_id:
        # An earlier attempt through the same link (the provider returned late).
        payment = (
            Payment.objects.filter(pk=asked, purpose="booking", purpose_id=booking.id).first()
            or payment
        )
    locale = page_locale(request, booking.customer.locale, booking.organization.locale)
    with translation.override(locale):
        token = links.reusable_token(link)
        context = _context(
            link,
            booking,
            locale,
            payment=payment,
            paid_now=format_money(payment.amount, payment.currency, locale) if payment else "",
            retry_url=f"/pay/{token}" if token else None,
        )
        if payment is None:
            return render(request, "bookings/pay_failure.html", context)
        if payment.status == PaymentStatus.SUCCEEDED:
            return render(request, "bookings/pay_success.html", context)
        if payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELED, PaymentStatus.EXPIRED):
            return render(request, "bookings/pay_failure.html", context)
        return render(request, "bookings/pay_pending.html", context)
