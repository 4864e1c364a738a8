"""The customer's account pages: saved payment methods, notification preferences and the
web push opt-in (with the service worker it needs)."""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kassa.core.actors import Actor
from kassa.core.errors import KassaError
from kassa.core.models import ActorType
from kassa.core.validation import refuse_unstorable
from kassa.notifications import webpush
from kassa.notifications.models import NotificationPreference, PushSubscription
from kassa.notifications.registry import registered_types
from kassa.notifications.services import set_preference, subscribe_push, unsubscribe_push
from kassa.payments.models import PaymentMethod
from kassa.payments.services import remove_payment_method
from kassa.portal.session import PortalUser, portal_login_required, portal_user

# Channels a customer can choose in the portal (customer webhooks are set up by the merchant).
PORTAL_CHANNELS = ("email", "sms", "push")
HIDDEN_TYPES = {"portal.sign_in_link"}


def customer_actor(request: HttpRequest, user: PortalUser) -> Actor:
    return Actor(
        type=ActorType.CUSTOMER,
        id=user.customer.id,
        label=user.customer.email or user.customer.id,
        ip_address=request.META.get("REMOTE_ADDR") or None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
    )


def _methods(user: PortalUser) -> list[PaymentMethod]:
    return list(
        PaymentMethod.objects.filter(
            organization_id=user.organization.id,
            customer_id=user.customer.id,
            status=PaymentMethod.Status.ACTIVE,
        ).order_by("-id")
    )


@require_GET
@portal_login_required
def payment_methods(request: HttpRequest) -> HttpResponse:
    user = portal_user(request)
    return render(
        request,
        "portal/payment_methods.html",
        {"portal": user, "methods": _methods(user), "nav": "methods"},
    )


@require_POST
@portal_login_required
def remove_method(request: HttpRequest, method_id: str) -> HttpResponse:
    user = portal_user(request)
    method = PaymentMethod.objects.filter(
        pk=method_id,
        organization_id=user.organization.id,
        customer_id=user.customer.id,
        status=PaymentMethod.Status.ACTIVE,
    ).first()
    if method is None:
        raise Http404
    from kassa.portal.wallet_links import stop_auto_topups_using

    stop_auto_topups_using(method)
    remove_payment_method(method, customer_actor(request, user))
    if request.htmx:  # type: ignore[attr-defined]
        return render(
            request, "portal/_methods_list.html", {"portal": user, "methods": _methods(user)}
        )
    return HttpResponseRedirect("/portal/payment-methods")


def _preference_rows(user: PortalUser) -> list[dict[str, Any]]:
    saved = {
        (p.type, p.channel): p.enabled
        for p in NotificationPreference.objects.filter(customer=user.customer)
    }
    rows = []
    for ntype in registered_types():
        if ntype.audience != "customer" or ntype.key in HIDDEN_TYPES:
            continue
        cells = []
        for channel in PORTAL_CHANNELS:
            default = channel in ntype.channels
            enabled = saved.get((ntype.key, channel), saved.get(("*", channel), default))
            cells.append({"channel": channel, "enabled": enabled})
        rows.append({"key": ntype.key, "label": _(ntype.label), "cells": cells})
    return rows


def _push_public_key() -> str:
    return webpush.public_key()


@require_http_methods(["GET", "POST"])
@portal_login_required
def notifications(request: HttpRequest) -> HttpResponse:
    user = portal_user(request)
    saved = False
    if request.method == "POST":
        for row in _preference_rows(user):
            for cell in row["cells"]:
                wanted = request.POST.get(f"{row['key']}:{cell['channel']}") == "on"
                if wanted != cell["enabled"]:
                    set_preference(user.customer, row["key"], cell["channel"], wanted)
        saved = True
    context = {
        "portal": user,
        "rows": _preference_rows(user),
        "channels": PORTAL_CHANNELS,
        "saved": saved,
        "push_key": _push_public_key(),
        "push_count": PushSubscription.objects.filter(
            customer=user.customer, revoked_at__isnull=True
        ).count(),
        "nav": "notifications",
    }
    return render(request, "portal/notifications.html", context)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    """The browser's JSON; raises InvalidCharacters for text that cannot be stored."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    refuse_unstorable(body, "")
    return body


@require_POST
@portal_login_required
def push_subscribe(request: HttpRequest) -> HttpResponse:
    user = portal_user(request)
    try:
        body = _json_body(request)
        keys = body.get("keys")
        if not isinstance(keys, dict):
            keys = {}
        subscribe_push(
            user.customer,
            str(body.get("endpoint", "")),
            str(keys.get("p256dh", "")),
            str(keys.get("auth", "")),
        )
    except KassaError as exc:
        return JsonResponse({"error": exc.as_dict()}, status=exc.status)
    return JsonResponse({"subscribed": True})


@require_POST
@portal_login_required
def push_unsubscribe(request: HttpRequest) -> HttpResponse:
    user = portal_user(request)
    try:
        unsubscribe_push(user.customer, str(_json_body(request).get("endpoint", "")))
    except KassaError as exc:
        return JsonResponse({"error": exc.as_dict()}, status=exc.status)
    return JsonResponse({"subscribed": False})


SERVICE_WORKER = """// Kassa portal service worker: shows web push notifications.
self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; }
  catch (e) { data = {body: event.data.text()}; }
  const title = data.title || "Kassa";
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || "", data: {url: data.url || "/portal/"}, tag: data.tag || undefined,
  }));
});
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/portal/";
  event.waitUntil(clients.openWindow(url));
});
"""


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    # Served from /portal/ so that its scope covers the portal.
    response = HttpResponse(SERVICE_WORKER, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/portal/"
    response["Cache-Control"] = "no-cache"
    return response
