"""Delivering events to webhook endpoints: signatures, the retry schedule with a controllable
clock, 410, Retry-After, auto-disable after 5 days with an email to the owners, rotation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone

from kassa.core.models import Membership, Organization, Role
from kassa.events.dispatcher import RETRY_DELAYS, deliver_due
from kassa.events.models import (
    DeliveryStatus,
    EndpointStatus,
    Event,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from kassa.notifications.models import Notification
from tests.conftest import ApiClient
from tests.events.conftest import create_endpoint
from tests.events.receiver import Receiver, Reply
from tests.mail import SmtpServer

pytestmark = pytest.mark.django_db


def make_customer(api: ApiClient, name: str = "Ann") -> str:
    response = api.post("/v1/customers", {"name": name, "email": "ann@example.com"})
    assert response.status_code == 200, response.content
    customer_id: str = response.json()["id"]
    return customer_id


def only_delivery() -> WebhookDelivery:
    return WebhookDelivery.objects.get()


def test_a_delivery_is_signed_per_standard_webhooks_and_carries_the_event(
    api: ApiClient, receiver: Receiver
) -> None:
    endpoint = create_endpoint(api, receiver)
    make_customer(api)
    assert deliver_due() == 1
    (received,) = receiver.received
    assert received.verified == {endpoint["secret"]: True}
    event = Event.objects.get(type="customer.created")
    assert received.headers["webhook-id"] == event.id
    assert received.headers["content-type"] == "application/json"
    assert abs(int(received.headers["webhook-timestamp"]) - timezone.now().timestamp()) < 60
    # The body is the event exactly as the API shows it.
    assert received.event == api.get(f"/v1/events/{event.id}").json()
    delivery = only_delivery()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempt_count == 1
    assert delivery.last_status_code == 200
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.succeeded and attempt.status_code == 200 and attempt.response_body == "ok"
    assert attempt.latency_ms >= 0
    assert deliver_due() == 0  # nothing more is due


def test_only_subscribed_event_types_are_delivered(api: ApiClient, receiver: Receiver) -> None:
    create_endpoint(api, receiver, events=["customer.updated"])
    customer_id = make_customer(api)
    assert WebhookDelivery.objects.count() == 0
    api.post(f"/v1/customers/{customer_id}", {"name": "Ann B"})
    assert deliver_due() == 1
    assert [r.event["type"] for r in receiver.received] == ["customer.updated"]
    assert receiver.all_verified()


def test_retry_schedule_with_a_controllable_clock(api: ApiClient, receiver: Receiver) -> None:
    receiver.default = Reply(status=500, body=b"boom")
    create_endpoint(api, receiver)
    make_customer(api)
    delivery = only_delivery()
    clock = delivery.next_attempt_at
    assert clock is not None
    expected_delays = [timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30)]
    expected_delays += [timedelta(hours=h) for h in (2, 5, 10, 10)]
    assert list(RETRY_DELAYS[1:]) == expected_delays
    for attempt, delay in enumerate(expected_delays, start=1):
        assert deliver_due(now=clock) == 1
        delivery.refresh_from_db()
        assert delivery.attempt_count == attempt
        assert delivery.status == DeliveryStatus.PENDING
        assert delivery.next_attempt_at == clock + delay
        # Not a moment early.
        assert deliver_due(now=clock + delay - timedelta(milliseconds=1)) == 0
        clock = clock + delay
    assert deliver_due(now=clock) == 1  # the eighth and last attempt
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempt_count == 8
    assert delivery.next_attempt_at is None
    assert deliver_due(now=clock + timedelta(days=3)) == 0
    assert len(receiver.received) == 8
    # The webhook-id is the event id on every attempt; every attempt verifies.
    assert {r.headers["webhook-id"] for r in receiver.received} == {delivery.event_id}
    assert receiver.all_verified()
    attempts = list(WebhookAttempt.objects.order_by("id"))
    assert [a.status_code for a in attempts] == [500] * 8
    assert all(a.response_body == "boom" and not a.succeeded for a in attempts)


def test_a_failure_then_success_succeeds_on_the_retry(api: ApiClient, receiver: Receiver) -> None:
    receiver.replies = [Reply(status=502)]
    create_endpoint(api, receiver)
    make_customer(api)
    deliver_due()
    delivery = only_delivery()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.next_attempt_at is not None
    assert WebhookEndpoint.objects.get().failing_since is not None
    deliver_due(now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempt_count == 2
    assert WebhookEndpoint.objects.get().failing_since is None


@pytest.mark.parametrize("status", [301, 400, 404, 499, 500, 504])
def test_only_2xx_is_success(api: ApiClient, receiver: Receiver, status: int) -> None:
    receiver.default = Reply(status=status, headers={"Location": "https://example.com/"})
    create_endpoint(api, receiver)
    make_customer(api)
    deliver_due()
    delivery = only_delivery()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_status_code == status
    assert len(receiver.received) == 1  # a redirect is not followed


def test_no_answer_within_the_timeout_is_a_failed_attempt(
    api: ApiClient, receiver: Receiver
) -> None:
    receiver.replies = [Reply(delay=1.0)]
    create_endpoint(api, receiver)
    make_customer(api)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("kassa.events.dispatcher.TIMEOUT_SECONDS", 0.2)
        deliver_due()
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.status_code is None and "timed out" in attempt.error
    assert only_delivery().status == DeliveryStatus.PENDING


def owner(org: Organization, email: str = "owner@example.com") -> None:
    user = get_user_model().objects.create_user(email, email=email)
    Membership.objects.create(user=user, organization=org, role=Role.OWNER)


def test_410_disables_the_endpoint_and_emails_the_owners(
    org: Organization,
    api: ApiClient,
    receiver: Receiver,
    smtp: SmtpServer,
    tasks: Callable[[], int],
) -> None:
    owner(org)
    receiver.default = Reply(status=410)
    endpoint = create_endpoint(api, receiver)
    make_customer(api)
    deliver_due()
    delivery = only_delivery()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.next_attempt_at is None
    got = api.get(f"/v1/webhook_endpoints/{endpoint['id']}").json()
    assert got["status"] == "disabled" and got["disabled_reason"] == "gone"
    # Nothing more goes to it.
    make_customer(api, "Bob")
    assert deliver_due(now=timezone.now() + timedelta(days=1)) == 0
    assert len(receiver.received) == 1
    tasks()
    (message,) = smtp.wait_for(1)
    assert message["To"] == "owner@example.com"
    assert receiver.url in message["Subject"]
    # In the organization's language (ru by default).
    assert message["Subject"].startswith("Вебхук-адрес отключён")
    assert "410 Gone" in message.get_body(("plain",)).get_content()
    assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None


def test_retry_after_on_429_and_503_is_honoured(api: ApiClient, receiver: Receiver) -> None:
    create_endpoint(api, receiver)
    make_customer(api)
    delivery = only_delivery()
    now = timezone.now()
    receiver.replies = [Reply(status=429, headers={"Retry-After": "3600"})]
    deliver_due(now=now)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == now + timedelta(hours=1)
    assert deliver_due(now=now + timedelta(minutes=59)) == 0
    # An HTTP date works too, and a Retry-After shorter than the schedule does not shorten it.
    later = now + timedelta(hours=1)
    date = format_datetime(timezone.now() + timedelta(hours=3), usegmt=True)
    receiver.replies = [Reply(status=503, headers={"Retry-After": date})]
    deliver_due(now=later)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at is not None
    wait = delivery.next_attempt_at - later
    assert timedelta(hours=2, minutes=58) < wait <= timedelta(hours=3)
    receiver.replies = [Reply(status=429, headers={"Retry-After": "1"})]
    third = delivery.next_attempt_at
    deliver_due(now=third)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == third + RETRY_DELAYS[3]


def test_failing_for_five_days_disables_and_emails_the_owners(
    org: Organization,
    api: ApiClient,
    receiver: Receiver,
    smtp: SmtpServer,
    tasks: Callable[[], int],
) -> None:
    owner(org)
    receiver.default = Reply(status=500)
    create_endpoint(api, receiver)
    make_customer(api)
    start = timezone.now()
    deliver_due(now=start)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.failing_since == start
    # Failures keep coming (new events every day), none succeeds.
    for day in range(1, 5):
        make_customer(api, f"C{day}")
        deliver_due(now=start + timedelta(days=day))
        endpoint.refresh_from_db()
        assert endpoint.status == EndpointStatus.ENABLED
    assert not Notification.objects.exists()
    make_customer(api, "Last")
    deliver_due(now=start + timedelta(days=5, seconds=1))
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.DISABLED
    assert endpoint.disabled_reason == "failing"
    tasks()
    (message,) = smtp.wait_for(1)
    assert message["To"] == "owner@example.com"
    assert receiver.url in message.get_body(("plain",)).get_content()


def test_a_success_resets_the_five_day_clock(api: ApiClient, receiver: Receiver) -> None:
    receiver.default = Reply(status=500)
    create_endpoint(api, receiver)
    make_customer(api)
    start = timezone.now()
    deliver_due(now=start)
    receiver.replies = [Reply(status=200)]
    make_customer(api, "B")
    deliver_due(now=start + timedelta(days=4))
    assert WebhookEndpoint.objects.get().failing_since is None
    make_customer(api, "C")
    deliver_due(now=start + timedelta(days=6))
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.status == EndpointStatus.ENABLED
    assert endpoint.failing_since == start + timedelta(days=6)


def test_secret_rotation_both_secrets_sign_for_24_hours_then_only_the_new(
    api: ApiClient, receiver: Receiver
) -> None:
    endpoint = create_endpoint(api, receiver)
    old = endpoint["secret"]
    response = api.post(f"/v1/webhook_endpoints/{endpoint['id']}/rotate_secret")
    assert response.status_code == 200
    new = response.json()["secret"]
    assert new.startswith("whsec_") and new != old
    receiver.secrets.append(new)
    rotated_at = timezone.now()
    make_customer(api)
    deliver_due(now=rotated_at + timedelta(hours=23, minutes=59))
    first = receiver.received[-1]
    assert first.verified == {old: True, new: True}
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    make_customer(api, "B")
    deliver_due(now=rotated_at + timedelta(hours=24, seconds=5))
    second = receiver.received[-1]
    assert second.verified == {old: False, new: True}
    assert len(second.headers["webhook-signature"].split(" ")) == 1
    # The secret is never shown again.
    assert "secret" not in api.get(f"/v1/webhook_endpoints/{endpoint['id']}").json() or (
        api.get(f"/v1/webhook_endpoints/{endpoint['id']}").json()["secret"] is None
    )


def test_the_test_endpoint_sends_a_ping_to_that_endpoint_only(
    api: ApiClient, receiver: Receiver
) -> None:
    first = create_endpoint(api, receiver)
    other = Receiver().start()
    try:
        create_endpoint(api, other)
        response = api.post(f"/v1/webhook_endpoints/{first['id']}/test")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "pending"
        deliver_due()
        assert [r.event["type"] for r in receiver.received] == ["ping"]
        assert receiver.received[0].event["data"]["object"]["id"] == first["id"]
        assert receiver.all_verified()
        assert other.received == []
    finally:
        other.stop()


@override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=False)
def test_a_private_address_is_refused_again_at_delivery_time(
    api: ApiClient, receiver: Receiver
) -> None:
    # Saved while private addresses were allowed; since then they are not.
    with override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=True):
        create_endpoint(api, receiver)
        make_customer(api)
        # The same receiver by a host name that resolves to loopback.
        create_endpoint(api, receiver, url=receiver.url.replace("127.0.0.1", "localhost"))
        make_customer(api, "B")
    deliver_due()
    assert receiver.received == []
    attempts = list(WebhookAttempt.objects.all())
    assert len(attempts) == 3  # A to the first endpoint; B to both
    assert all(a.status_code is None and "public address" in a.error for a in attempts)


def test_redelivery_of_one_event_and_of_every_failed_one_since_a_time(
    api: ApiClient, receiver: Receiver
) -> None:
    receiver.default = Reply(status=500)
    endpoint = create_endpoint(api, receiver)
    start = timezone.now()
    make_customer(api, "A")
    make_customer(api, "B")
    WebhookDelivery.objects.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    receiver.default = Reply(status=200)
    event_a = Event.objects.order_by("id").first()
    assert event_a is not None
    response = api.post(f"/v1/webhook_endpoints/{endpoint['id']}/redeliver", {"event": event_a.id})
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 1
    deliver_due()
    assert [r.headers["webhook-id"] for r in receiver.received] == [event_a.id]
    # Event A's latest delivery succeeded; only B is still failed.
    response = api.post(
        f"/v1/webhook_endpoints/{endpoint['id']}/redeliver",
        {"failed_since": (start - timedelta(minutes=1)).isoformat()},
    )
    assert response.json()["count"] == 1
    deliver_due()
    assert len(receiver.received) == 2
    assert receiver.all_verified()
    redelivered = api.get(f"/v1/webhook_deliveries/{response.json()['deliveries'][0]}").json()
    assert redelivered["status"] == "succeeded" and redelivered["manual"] is True
    assert redelivered["attempts"][0]["status_code"] == 200
    # Neither field, or both, is a clear error.
    bad = api.post(f"/v1/webhook_endpoints/{endpoint['id']}/redeliver", {})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "event"


def test_deliveries_to_a_disabled_endpoint_wait_and_resume_when_enabled(
    api: ApiClient, receiver: Receiver
) -> None:
    endpoint = create_endpoint(api, receiver)
    make_customer(api)
    api.post(f"/v1/webhook_endpoints/{endpoint['id']}/disable")
    assert deliver_due() == 0
    response = api.post(f"/v1/webhook_endpoints/{endpoint['id']}/enable")
    assert response.json()["status"] == "enabled"
    assert deliver_due() == 1
    assert receiver.all_verified()
