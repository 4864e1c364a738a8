"""The hosted checkout (customer-facing) and the endpoints providers call."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from kassa.core.actors import client_address
from kassa.core.errors import KassaError
from kassa.core.money import format_money
from kassa.payments import services
from kassa.payments.accounts import account_by_id
from kassa.payments.gateways.base import InboundRequest, VerificationError
from kassa.payments.gateways.registry import gateway_for
from kassa.payments.inbound import receive
from kassa.payments.links import checkout_token, payment_id_from_token
from kassa.payments.locale_choice import LANGUAGE_CHOICES, page_locale
from kassa.payments.models import Payment, PaymentStatus

S = PaymentStatus
_OPEN = (S.PENDING, S.REQUIRES_ACTION)


def _payment(token: str) -> Payment:
    payment_id = payment_id_from_token(token)
    payment = (
        Payment.objects.select_related("organization", "customer").filter(pk=payment_id).first()
        if payment_id
        else None
    )
    if payment is None:
        raise Http404("unknown checkout")
    return payment


def _context(request: HttpRequest, payment: Payment, locale: str, **extra: Any) -> dict[str, Any]:
    token = checkout_token(payment.id)
    return {
        "payment": payment,
        "merchant": payment.organization,
        "amount": format_money(payment.amount, payment.currency, locale),
        "token": token,
        "locale": locale,
        "languages": LANGUAGE_CHOICES,
        "expired": bool(payment.expires_at and payment.expires_at <= timezone.now()),
        **extra,
    }


def _locale(request: HttpRequest, payment: Payment) -> str:
    customer_locale = payment.customer.locale if payment.customer else None
    return page_locale(request, customer_locale, payment.organization.locale)


@require_http_methods(["GET"])
def checkout(request: HttpRequest, token: str) -> HttpResponse:
    payment = _payment(token)
    locale = _locale(request, payment)
    with translation.override(locale):
        if payment.status not in _OPEN:
            return _result(request, payment, locale)
        accounts = services.eligible_accounts(
            payment.organization_id, payment.currency, payment.livemode
        )
        context = _context(request, payment, locale, accounts=accounts)
        return render(request, "payments/checkout.html", context)


@require_POST
def checkout_start(request: HttpRequest, token: str) -> HttpResponse:
    payment = _payment(token)
    locale = _locale(request, payment)
    with translation.override(locale):
        try:
            session = services.start_checkout(
                payment.id, request.POST.get("gateway_account", ""), locale
            )
        except KassaError as exc:
            accounts = services.eligible_accounts(
                payment.organization_id, payment.currency, payment.livemode
            )
            context = _context(request, payment, locale, accounts=accounts, error=exc.localized())
            return render(request, "payments/checkout.html", context, status=409)
        if session.form_fields:
            return render(
                request,
                "payments/redirect_form.html",
                {"action": session.redirect_url, "fields": session.form_fields, "locale": locale},
            )
        return HttpResponseRedirect(session.redirect_url)


@require_http_methods(["GET"])
def checkout_return(request: HttpRequest, token: str) -> HttpResponse:
    payment = _payment(token)
    locale = _locale(request, payment)
    with translation.override(locale):
        return _result(request, payment, locale)


def _result(request: HttpRequest, payment: Payment, locale: str) -> HttpResponse:
    if payment.status in (S.SUCCEEDED, S.FAILED, S.CANCELED, S.EXPIRED) and payment.return_url:
        query = urlencode({"payment_id": payment.id, "status": payment.status})
        separator = "&" if "?" in payment.return_url else "?"
        return HttpResponseRedirect(f"{payment.return_url}{separator}{query}")
    templates: dict[str, str] = {
        S.SUCCEEDED: "payments/result_success.html",
        S.FAILED: "payments/result_failure.html",
        S.CANCELED: "payments/result_failure.html",
        S.EXPIRED: "payments/result_failure.html",
    }
    template = templates.get(payment.status, "payments/result_pending.html")
    return render(request, template, _context(request, payment, locale))


@csrf_exempt
def provider_hook(
    request: HttpRequest, provider: str, account_id: str, action: str = ""
) -> HttpResponse:
    """POST /hooks/<provider>/<gateway account id>[/<action>]."""
    account = account_by_id(account_id)
    if account is None or account.provider != provider:
        raise Http404("unknown gateway account")
    inbound = InboundRequest(
        method=request.method or "",
        path=request.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=request.body,
        query={k: str(v) for k, v in request.GET.items()},
        remote_addr=client_address(request),
        action=action,
    )
    gateway = gateway_for(account)
    if gateway.capabilities.merchant_api:
        answer = gateway.handle_merchant_request(inbound)
        return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    try:
        receive(account, inbound)
    except VerificationError as exc:
        return JsonResponse({"error": f"verification failed: {exc}"}, status=400)
    return JsonResponse({"received": True})
