"""/v1/events and /v1/webhook_endpoints: CRUD, validation, SSRF refusal, tenant isolation,
idempotent POST, filters and pagination, retention."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from kassa.core.models import AuditLogEntry, Organization
from kassa.events.catalogue import EVENT_TYPES
from kassa.events.dispatcher import deliver_due
from kassa.events.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from kassa.events.services import emit, prune_events
from kassa.platform import periodic
from tests.conftest import ApiClient, make_org
from tests.events.conftest import create_endpoint
from tests.events.receiver import Receiver

pytestmark = pytest.mark.django_db

MakeApi = Callable[[Organization, str], ApiClient]


def test_create_shows_the_secret_once_then_crud(api: ApiClient, receiver: Receiver) -> None:
    created = create_endpoint(
        api, receiver, events=["customer.created", "customer.created"], description="ERP"
    )
    assert created["id"].startswith("we_")
    assert created["secret"].startswith("whsec_")
    assert created["status"] == "enabled"
    assert created["enabled_events"] == ["customer.created"]
    assert created["livemode"] is False
    endpoint_id = created["id"]
    got = api.get(f"/v1/webhook_endpoints/{endpoint_id}").json()
    assert got.get("secret") is None
    assert got["description"] == "ERP"
    # The secret is stored encrypted, never in plain text.
    assert created["secret"] not in WebhookEndpoint.objects.get().secret_encrypted

    updated = api.post(
        f"/v1/webhook_endpoints/{endpoint_id}",
        {"enabled_events": ["*"], "description": "ERP v2"},
    ).json()
    assert updated["enabled_events"] == ["*"] and updated["description"] == "ERP v2"
    disabled = api.post(f"/v1/webhook_endpoints/{endpoint_id}", {"status": "disabled"}).json()
    assert disabled["status"] == "disabled" and disabled["disabled_reason"] == "manual"
    listed = api.get("/v1/webhook_endpoints").json()
    assert [e["id"] for e in listed["data"]] == [endpoint_id] and listed["has_more"] is False

    deleted = api.delete(f"/v1/webhook_endpoints/{endpoint_id}")
    assert deleted.json() == {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}
    assert api.get(f"/v1/webhook_endpoints/{endpoint_id}").status_code == 404
    actions = set(AuditLogEntry.objects.values_list("action", flat=True))
    assert {"webhook_endpoint.created", "webhook_endpoint.deleted"} <= actions


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"url": "https://93.184.216.34/x", "enabled_events": []}, "enabled_events"),
        ({"url": "https://93.184.216.34/x", "enabled_events": ["no.such"]}, "enabled_events"),
        ({"url": "https://93.184.216.34/x", "enabled_events": ["ping"]}, "enabled_events"),
        ({"url": "ftp://93.184.216.34/x", "enabled_events": ["*"]}, "url"),
        ({"enabled_events": ["*"]}, "url"),
    ],
)
def test_bad_input_is_a_clear_error_and_creates_nothing(
    api: ApiClient, body: dict[str, Any], param: str
) -> None:
    response = api.post("/v1/webhook_endpoints", body)
    assert response.status_code in (400, 422)
    assert response.json()["error"]["param"] == param
    assert not WebhookEndpoint.objects.exists()


@override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=False)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "https://localhost/hooks",
        "https://10.0.0.5/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
    ],
)
def test_ssrf_private_loopback_and_link_local_urls_are_refused(api: ApiClient, url: str) -> None:
    response = api.post("/v1/webhook_endpoints", {"url": url, "enabled_events": ["*"]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "url" and "public addresses" in error["message"]
    assert "KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=1" in error["message"]
    assert not WebhookEndpoint.objects.exists()


@override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=False)
def test_an_endpoint_whose_host_does_not_resolve_yet_is_created_and_delivery_waits(
    api: ApiClient,
) -> None:
    """Saving does not depend on DNS (offline, or a record not made yet); delivery resolves
    the name again and records the failure, to be retried."""
    response = api.post(
        "/v1/webhook_endpoints",
        {"url": "https://erp.no-such-host.invalid/kassa", "enabled_events": ["*"]},
    )
    assert response.status_code == 200, response.content
    assert api.post(f"/v1/webhook_endpoints/{response.json()['id']}/test").status_code == 200
    deliver_due()
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and attempt.error
    assert WebhookDelivery.objects.get().status == "pending"


@override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=False)
def test_ssrf_refused_on_update_too(api: ApiClient) -> None:
    created = api.post(
        "/v1/webhook_endpoints", {"url": "https://93.184.216.34/x", "enabled_events": ["*"]}
    ).json()
    response = api.post(f"/v1/webhook_endpoints/{created['id']}", {"url": "https://127.0.0.1/"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "url"
    assert WebhookEndpoint.objects.get().url == "https://93.184.216.34/x"


def test_live_mode_endpoints_must_be_https(org: Organization, make_api: MakeApi) -> None:
    live = make_api(org, "live")
    response = live.post(
        "/v1/webhook_endpoints", {"url": "http://93.184.216.34/x", "enabled_events": ["*"]}
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "url"
    ok = live.post(
        "/v1/webhook_endpoints", {"url": "https://93.184.216.34/x", "enabled_events": ["*"]}
    )
    assert ok.status_code == 200 and ok.json()["livemode"] is True


def test_idempotent_create_replays_the_same_endpoint(api: ApiClient, receiver: Receiver) -> None:
    body = {"url": receiver.url, "enabled_events": ["*"]}
    first = api.post("/v1/webhook_endpoints", body, idempotency_key="we-1")
    again = api.post("/v1/webhook_endpoints", body, idempotency_key="we-1")
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.json() == again.json()
    assert WebhookEndpoint.objects.count() == 1
    other = api.post("/v1/webhook_endpoints", {**body, "description": "x"}, idempotency_key="we-1")
    assert other.status_code == 400
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_tenants_are_isolated(
    org: Organization, api: ApiClient, make_api: MakeApi, receiver: Receiver
) -> None:
    mine = create_endpoint(api, receiver)
    other_org = make_org("Other GmbH", currency="EUR")
    theirs_api = make_api(other_org, "test")
    other_receiver = Receiver().start()
    try:
        create_endpoint(theirs_api, other_receiver)
        api.post("/v1/customers", {"name": "Ann"})
        event = Event.objects.get(organization=org)
        deliver_due()
        assert len(receiver.received) == 1 and other_receiver.received == []
    finally:
        other_receiver.stop()
    delivery = WebhookDelivery.objects.get(organization=org)
    for path in (
        f"/v1/webhook_endpoints/{mine['id']}",
        f"/v1/events/{event.id}",
        f"/v1/webhook_deliveries/{delivery.id}",
        f"/v1/webhook_endpoints/{mine['id']}/deliveries",
    ):
        assert theirs_api.get(path).status_code == 404, path
    for path in ("rotate_secret", "test", "disable"):
        response = theirs_api.post(f"/v1/webhook_endpoints/{mine['id']}/{path}")
        assert response.status_code == 404, path
    assert theirs_api.delete(f"/v1/webhook_endpoints/{mine['id']}").status_code == 404
    assert theirs_api.get("/v1/events").json()["data"] == []
    assert len(theirs_api.get("/v1/webhook_endpoints").json()["data"]) == 1
    # Their endpoint cannot redeliver my event.
    their_endpoint = WebhookEndpoint.objects.get(organization=other_org)
    response = theirs_api.post(
        f"/v1/webhook_endpoints/{their_endpoint.id}/redeliver", {"event": event.id}
    )
    assert response.status_code == 404


def test_events_list_filters_and_pagination(org: Organization, api: ApiClient) -> None:
    for n in range(5):
        api.post("/v1/customers", {"name": f"C{n}"})
    old = emit(org.id, "customer.updated", {"id": "cus_old", "object": "customer"})
    Event.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))

    page = api.get("/v1/events", limit="2").json()
    assert len(page["data"]) == 2 and page["has_more"] is True
    ids = [e["id"] for e in page["data"]]
    rest = api.get("/v1/events", limit="10", starting_after=ids[-1]).json()
    assert len(rest["data"]) == 4 and rest["has_more"] is False
    assert not set(ids) & {e["id"] for e in rest["data"]}

    created = api.get("/v1/events", type="customer.created").json()["data"]
    assert len(created) == 5 and {e["type"] for e in created} == {"customer.created"}
    week_ago = (timezone.now() - timedelta(days=7)).isoformat()
    recent = api.get("/v1/events", **{"created[gte]": week_ago}).json()["data"]
    assert old.id not in {e["id"] for e in recent} and len(recent) == 5
    older = api.get("/v1/events", **{"created[lte]": week_ago}).json()["data"]
    assert [e["id"] for e in older] == [old.id]

    one = api.get(f"/v1/events/{old.id}").json()
    assert set(one) == {"id", "object", "type", "created", "data"}
    assert one["data"]["object"]["id"] == "cus_old"
    assert api.get("/v1/events/evt_nope").status_code == 404
    bad = api.get("/v1/events", starting_after="cus_1")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "starting_after"


def test_deliveries_list_and_retrieve(api: ApiClient, receiver: Receiver) -> None:
    endpoint = create_endpoint(api, receiver)
    api.post("/v1/customers", {"name": "Ann"})
    deliver_due()
    listed = api.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries").json()["data"]
    assert len(listed) == 1 and listed[0]["status"] == "succeeded"
    assert (
        api.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries", status="failed").json()[
            "data"
        ]
        == []
    )
    one = api.get(f"/v1/webhook_deliveries/{listed[0]['id']}").json()
    assert one["attempts"][0]["status_code"] == 200 and one["attempts"][0]["latency_ms"] >= 0


def test_retention_prunes_old_events_with_their_deliveries(
    org: Organization, api: ApiClient, receiver: Receiver
) -> None:
    create_endpoint(api, receiver)
    api.post("/v1/customers", {"name": "Old"})
    api.post("/v1/customers", {"name": "New"})
    deliver_due()
    old_event = Event.objects.order_by("id").first()
    assert old_event is not None
    Event.objects.filter(pk=old_event.pk).update(created_at=timezone.now() - timedelta(days=91))
    assert WebhookAttempt.objects.count() == 2
    with override_settings(KASSA_EVENT_RETENTION_DAYS=90):
        assert prune_events(chunk=1) == 1
        assert prune_events() == 0
    assert list(Event.objects.values_list("id", flat=True)) != [old_event.id]
    assert not Event.objects.filter(pk=old_event.pk).exists()
    assert WebhookDelivery.objects.count() == 1 and WebhookAttempt.objects.count() == 1
    with override_settings(KASSA_EVENT_RETENTION_DAYS=1):
        Event.objects.update(created_at=timezone.now() - timedelta(days=2))
        assert prune_events() == 1
    assert "events.prune" in {job.name for job in periodic.registered_jobs()}


def test_openapi_lists_the_event_catalogue(api: ApiClient) -> None:
    schema = api.client.get("/v1/openapi.json").json()
    event_schema = schema["components"]["schemas"]["EventOut"]
    assert event_schema["properties"]["type"]["enum"] == sorted(EVENT_TYPES)
    assert "customer.created" in event_schema["properties"]["type"]["description"]
    paths = schema["paths"]
    assert "/v1/events" in paths and "/v1/webhook_endpoints/{endpoint_id}/rotate_secret" in paths
    params = {p["name"] for p in paths["/v1/events"]["get"]["parameters"]}
    assert {"type", "created[gte]", "created[lte]", "limit", "starting_after"} <= params
