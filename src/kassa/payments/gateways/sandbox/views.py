"""The sandbox provider's hosted card page and its confirmation (3-D Secure style) step."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from kassa.core.models import Organization
from kassa.core.money import format_money
from kassa.payments.accounts import account_by_id
from kassa.payments.gateways.sandbox import provider
from kassa.payments.gateways.sandbox.models import SandboxCharge, SandboxCheckout
from kassa.payments.locale_choice import LANGUAGE_CHOICES, page_locale


def _merchant(gateway_account_id: str) -> Organization | None:
    """Whom the customer pays: the organization that owns the sandbox account, as a real
    provider's hosted page names the business."""
    account = account_by_id(gateway_account_id)
    if account is None:
        return None
    return Organization.objects.filter(pk=account.organization_id).first()


@require_http_methods(["GET", "POST"])
def card_page(request: HttpRequest, token: str) -> HttpResponse:
    checkout = SandboxCheckout.objects.filter(pk=token).first()
    if checkout is None:
        raise Http404("unknown sandbox checkout")
    locale = page_locale(request, checkout.locale)
    error = ""
    with translation.override(locale):
        if request.method == "POST":
            if "cancel" in request.POST:
                return HttpResponseRedirect(checkout.cancel_url)
            try:
                return HttpResponseRedirect(
                    provider.pay_checkout(
                        checkout,
                        request.POST.get("number", ""),
                        request.POST.get("exp_month", ""),
                        request.POST.get("exp_year", ""),
                        request.POST.get("cvc", ""),
                    )
                )
            except provider.CardRejected as exc:
                error = gettext(str(exc))
        closed = checkout.status != "open" or checkout.expires_at <= timezone.now()
        return render(
            request,
            "payments/sandbox_card.html",
            {
                "checkout": checkout,
                "merchant": _merchant(checkout.gateway_account_id),
                "amount": format_money(checkout.amount, checkout.currency, locale),
                "locale": locale,
                "languages": LANGUAGE_CHOICES,
                "error": error,
                "closed": closed,
                "cards": provider.TEST_CARDS,
            },
            status=400 if error else 200,
        )


@require_http_methods(["GET", "POST"])
def authenticate_page(request: HttpRequest, charge_id: str) -> HttpResponse:
    charge = SandboxCharge.objects.select_related("checkout").filter(pk=charge_id).first()
    if charge is None:
        raise Http404("unknown sandbox charge")
    locale = page_locale(request, charge.checkout.locale if charge.checkout else None)
    with translation.override(locale):
        if request.method == "POST":
            return HttpResponseRedirect(
                provider.authenticate(charge.id, approve=request.POST.get("decision") == "approve")
            )
        return render(
            request,
            "payments/sandbox_authenticate.html",
            {
                "charge": charge,
                "merchant": _merchant(charge.gateway_account_id),
                "amount": format_money(charge.amount, charge.currency, locale),
                "locale": locale,
                "languages": LANGUAGE_CHOICES,
            },
        )
