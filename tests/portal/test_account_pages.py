"""Notification preferences, the web push opt-in and its service worker."""

from __future__ import annotations

import base64
import json
import re
from ipaddress import ip_address

import pytest
from django.test import Client

from kassa.core import urlcheck
from kassa.customers.models import Customer
from kassa.notifications import webpush
from kassa.notifications.models import NotificationPreference, PushSubscription

pytestmark = pytest.mark.django_db


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


SUBSCRIPTION = {
    "endpoint": "https://push.example.net/send/abc123",
    "keys": {"p256dh": b64(b"\x04" + bytes(range(64))), "auth": b64(bytes(range(16)))},
}


def test_notification_preferences(portal_client: Client, customer: Customer) -> None:
    page = portal_client.get("/portal/notifications").content.decode()
    # The low-balance alert goes by email, SMS and push by default; the sign-in link is not
    # something a customer can switch off, so it is not offered.
    assert 'name="wallet.low_balance:email" aria-label="Low wallet balance email" checked' in page
    assert "portal.sign_in_link" not in page
    boxes = re.findall(r'name="([\w.]+:\w+)"[^>]* checked', page)
    form = {name: "on" for name in boxes if name != "wallet.low_balance:sms"}
    form["wallet.auto_topup_disabled:sms"] = "on"
    saved = portal_client.post("/portal/notifications", form)
    assert saved.status_code == 200 and 'id="prefs-saved"' in saved.content.decode()
    prefs = {
        (p.type, p.channel): p.enabled
        for p in NotificationPreference.objects.filter(customer=customer)
    }
    assert prefs == {
        ("wallet.low_balance", "sms"): False,
        ("wallet.auto_topup_disabled", "sms"): True,
    }
    again = portal_client.get("/portal/notifications").content.decode()
    assert 'name="wallet.low_balance:sms" aria-label="Low wallet balance sms" checked' not in again


def test_web_push_opt_in(
    portal_client: Client, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The push service's host must resolve to a public address (the SSRF guard) and there is no
    # DNS here; nothing is sent to it in this test.
    monkeypatch.setattr(urlcheck, "resolve", lambda host, port: [ip_address("8.8.8.8")])
    page = portal_client.get("/portal/notifications").content.decode()
    assert f'data-public-key="{webpush.public_key()}"' in page
    subscribed = portal_client.post(
        "/portal/push/subscribe", json.dumps(SUBSCRIPTION), content_type="application/json"
    )
    assert subscribed.status_code == 200 and subscribed.json() == {"subscribed": True}
    stored = PushSubscription.objects.get(customer=customer)
    assert stored.endpoint == SUBSCRIPTION["endpoint"]
    assert "1 device is signed up." in portal_client.get("/portal/notifications").content.decode()
    bad = portal_client.post(
        "/portal/push/subscribe",
        json.dumps({**SUBSCRIPTION, "keys": {"p256dh": "nope", "auth": "x"}}),
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "p256dh"
    gone = portal_client.post(
        "/portal/push/unsubscribe",
        json.dumps({"endpoint": SUBSCRIPTION["endpoint"]}),
        content_type="application/json",
    )
    assert gone.json() == {"subscribed": False}
    assert not PushSubscription.objects.filter(customer=customer).exists()


def test_push_subscribe_needs_csrf_and_a_session(customer: Customer) -> None:
    strict = Client(enforce_csrf_checks=True)
    refused = strict.post(
        "/portal/push/subscribe", json.dumps(SUBSCRIPTION), content_type="application/json"
    )
    assert refused.status_code == 403
    anonymous = Client().post(
        "/portal/push/subscribe", json.dumps(SUBSCRIPTION), content_type="application/json"
    )
    assert anonymous.status_code == 302
    assert PushSubscription.objects.count() == 0


def test_the_service_worker() -> None:
    response = Client().get("/portal/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/portal/"
    assert b'addEventListener("push"' in response.content


def test_the_preferences_page_in_german(portal_client: Client) -> None:
    page = portal_client.get("/portal/notifications?lang=de").content.decode()
    assert "Niedriges Guthaben" in page and "Benachrichtigungen auf diesem Gerät" in page


def test_portal_push_refuses_nul(portal_client: Client, customer: Customer) -> None:
    response = portal_client.post(
        "/portal/push/subscribe",
        json.dumps(
            {"endpoint": "https://push.example/\u0000", "keys": {"p256dh": "a", "auth": "b"}}
        ),
        content_type="application/json",
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_characters"
    gone = portal_client.post(
        "/portal/push/unsubscribe",
        json.dumps({"endpoint": "\u0000"}),
        content_type="application/json",
    )
    assert gone.status_code == 422
