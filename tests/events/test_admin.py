"""The admin: event browser, webhook endpoints and deliveries, scoped to the staff member's
organizations, with audited actions (redeliver, disable, ping, redeliver failed since)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.test import Client
from django.utils import timezone

from kassa.core.models import AuditLogEntry, Organization
from kassa.events.dispatcher import deliver_due
from kassa.events.models import DeliveryStatus, Event, WebhookDelivery, WebhookEndpoint
from tests.conftest import ApiClient, make_org
from tests.core.test_admin import staff_client
from tests.events.conftest import create_endpoint
from tests.events.receiver import Receiver, Reply

pytestmark = pytest.mark.django_db


def failed_delivery(api: ApiClient, receiver: Receiver) -> WebhookDelivery:
    receiver.default = Reply(status=500)
    create_endpoint(api, receiver)
    api.post("/v1/customers", {"name": "Ann"})
    deliver_due()
    WebhookDelivery.objects.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    receiver.default = Reply(status=200)
    return WebhookDelivery.objects.get()


def run_action(client: Client, url: str, action: str, ids: list[str], **extra: str) -> int:
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: ids, "index": "0", **extra}
    return int(client.post(url, data).status_code)


def test_pages_are_scoped_to_the_staff_members_organizations(
    org: Organization, api: ApiClient, receiver: Receiver
) -> None:
    delivery = failed_delivery(api, receiver)
    client = staff_client(org, "viewer", "viewer@acme.test")
    for url in (
        "/admin/events/event/",
        "/admin/events/webhookendpoint/",
        "/admin/events/webhookdelivery/",
        "/admin/events/webhookdelivery/?status__exact=failed",
        f"/admin/events/webhookdelivery/{delivery.id}/change/",
        f"/admin/events/event/{delivery.event_id}/change/",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
    detail = client.get(f"/admin/events/webhookdelivery/{delivery.id}/change/").content.decode()
    assert "500" in detail  # the attempt is listed
    stranger = staff_client(make_org("Other"), "owner", "owner@other.test")
    listing = stranger.get("/admin/events/webhookdelivery/").content.decode()
    assert delivery.id not in listing
    assert stranger.get(f"/admin/events/webhookdelivery/{delivery.id}/change/").status_code in (
        302,
        404,
    )


def test_redeliver_from_the_admin_is_audited_and_viewers_cannot(
    org: Organization, api: ApiClient, receiver: Receiver
) -> None:
    delivery = failed_delivery(api, receiver)
    viewer = staff_client(org, "viewer", "viewer@acme.test")
    run_action(viewer, "/admin/events/webhookdelivery/", "redeliver", [delivery.id])
    assert WebhookDelivery.objects.count() == 1
    admin_user = staff_client(org, "admin", "admin@acme.test")
    status = run_action(admin_user, "/admin/events/webhookdelivery/", "redeliver", [delivery.id])
    assert status == 302
    manual = WebhookDelivery.objects.get(manual=True)
    assert manual.event_id == delivery.event_id
    entry = AuditLogEntry.objects.get(action="webhook_delivery.redelivered")
    assert entry.actor_label == "admin@acme.test"
    deliver_due()
    manual.refresh_from_db()
    assert manual.status == DeliveryStatus.SUCCEEDED
    assert receiver.all_verified()


def test_endpoint_actions_disable_ping_and_redeliver_failed_since(
    org: Organization, api: ApiClient, receiver: Receiver
) -> None:
    delivery = failed_delivery(api, receiver)
    endpoint = WebhookEndpoint.objects.get()
    client = staff_client(org, "owner", "owner@acme.test")
    url = "/admin/events/webhookendpoint/"
    # The since form first, then the confirmation.
    page = client.post(
        url,
        {"action": "redeliver_failed_since", helpers.ACTION_CHECKBOX_NAME: [endpoint.id]},
    )
    assert page.status_code == 200 and "id_since" in page.content.decode()
    since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    status = run_action(
        client, url, "redeliver_failed_since", [endpoint.id], confirm="1", since=since
    )
    assert status == 302
    assert WebhookDelivery.objects.filter(manual=True, event_id=delivery.event_id).count() == 1
    run_action(client, url, "send_test", [endpoint.id])
    assert Event.objects.filter(type="ping").count() == 1
    run_action(client, url, "disable", [endpoint.id])
    endpoint.refresh_from_db()
    assert endpoint.status == "disabled" and endpoint.disabled_reason == "manual"
    assert AuditLogEntry.objects.filter(
        action="webhook_endpoint.updated", actor_label="owner@acme.test"
    ).exists()
