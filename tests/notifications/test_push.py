"""Web push through a local push service that verifies VAPID and decrypts the payload."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import override_settings
from django.utils import timezone

from kassa.core.errors import KassaError
from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.notifications import delivery, webpush
from kassa.notifications.models import (
    Notification,
    NotificationStatus,
    PushSubscription,
    RecipientState,
    VapidKey,
)
from kassa.notifications.services import notify, set_preference, subscribe_push, unsubscribe_push
from tests.simulators.push_service import PushService

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_loopback_allowed")]

Tasks = Callable[[], int]


@pytest.fixture
def _loopback_allowed() -> object:
    with override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=True):
        yield


def make_customer(org: Organization, **fields: str) -> Customer:
    defaults = {"email": "", "name": "Ann", "locale": "de"}
    return Customer.objects.create(organization=org, **{**defaults, **fields})


def subscribe(customer: Customer, service: PushService) -> PushSubscription:
    return subscribe_push(customer, **service.subscribe())


def test_the_key_pair_is_made_once_and_kept(db: None) -> None:
    first = webpush.public_key()
    assert webpush.public_key() == first
    assert VapidKey.objects.count() == 1
    raw = webpush.b64url_decode(first)
    assert len(raw) == 65 and raw[0] == 0x04  # an uncompressed P-256 point
    # The private key is encrypted at rest.
    assert "PRIVATE KEY" not in VapidKey.objects.get().private_key


def test_migrate_makes_the_key_pair_on_first_start(db: None) -> None:
    from django.core.management.sql import emit_post_migrate_signal

    VapidKey.objects.all().delete()
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    key = VapidKey.objects.get()
    # A second start keeps the key browsers subscribed with.
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert VapidKey.objects.get().public_key == key.public_key == webpush.public_key()


def test_a_push_arrives_signed_encrypted_and_in_the_language(
    org: Organization, push_service: PushService, tasks: Tasks
) -> None:
    customer = make_customer(org)
    set_preference(customer, "test.receipt", "push", True)
    subscribe(customer, push_service)
    rows = notify(org.id, "test.receipt", customer_id=customer.id, context={"amount": "5 UZS"})
    push_row = next(r for r in rows if r.channel == "push")
    assert push_row.recipient == customer.id
    tasks()
    (message,) = push_service.received
    assert push_service.rejected == []
    assert message.payload == {
        "id": push_row.id,
        "type": "test.receipt",
        "title": "Receipt 5 UZS [de]",
        "body": "Received 5 UZS [de]",
        "lang": "de",
    }
    assert message.vapid_key == webpush.public_key()
    assert message.claims["aud"] == push_service.origin
    assert message.ttl == webpush.DEFAULT_TTL
    push_row.refresh_from_db()
    assert (push_row.status, push_row.attempts) == (NotificationStatus.SENT, 1)


def test_every_live_subscription_gets_it_and_a_gone_one_is_revoked(
    org: Organization, push_service: PushService, tasks: Tasks
) -> None:
    customer = make_customer(org)
    phone = subscribe(customer, push_service)
    laptop = subscribe(customer, push_service)
    push_service.answer[push_service.token_of(laptop.endpoint)] = (410, {})
    (row,) = [
        r
        for r in notify(org.id, "test.reminder", customer_id=customer.id, context={"amount": "1"})
        if r.channel == "push"
    ]
    tasks()
    assert [m.token for m in push_service.received] == [push_service.token_of(phone.endpoint)]
    row.refresh_from_db()
    assert row.status == NotificationStatus.SENT
    laptop.refresh_from_db()
    phone.refresh_from_db()
    assert laptop.revoked_at is not None and phone.revoked_at is None


def test_a_gone_subscription_is_revoked_and_a_new_one_starts_afresh(
    org: Organization, push_service: PushService, tasks: Tasks
) -> None:
    customer = make_customer(org)
    for status in (410, 404):
        subscription = subscribe(customer, push_service)
        push_service.answer[push_service.token_of(subscription.endpoint)] = (status, {})
        rows = notify(org.id, "test.reminder", customer_id=customer.id, context={"amount": 1})
        (row,) = [r for r in rows if r.channel == "push"]
        tasks()
        row.refresh_from_db()
        assert (row.status, row.attempts) == (NotificationStatus.FAILED, 1)  # not retried
        assert "gone" in row.last_error
        subscription.refresh_from_db()
        assert subscription.revoked_at is not None
        state = RecipientState.objects.get(channel="push", recipient=customer.id)
        assert state.hard_failures == 1
        # With no live subscription left the push row is skipped at once.
        rows = notify(org.id, "test.reminder", customer_id=customer.id, context={"amount": 2})
        (row,) = [r for r in rows if r.channel == "push"]
        assert row.status == NotificationStatus.SKIPPED
    # A fresh subscription clears the record of the dead ones and is used.
    subscribe(customer, push_service)
    assert not RecipientState.objects.filter(channel="push", recipient=customer.id).exists()
    rows = notify(org.id, "test.reminder", customer_id=customer.id, context={"amount": "y"})
    (row,) = [r for r in rows if r.channel == "push"]
    tasks()
    row.refresh_from_db()
    assert row.status == NotificationStatus.SENT
    assert len(push_service.received) == 1


def test_a_paused_push_channel_is_skipped_until_the_customer_subscribes_again(
    org: Organization, push_service: PushService, tasks: Tasks
) -> None:
    customer = make_customer(org)
    subscribe(customer, push_service)
    RecipientState.objects.create(
        organization=org,
        channel="push",
        recipient=customer.id,
        hard_failures=delivery.PAUSE_AFTER_HARD_FAILURES,
        paused_at=timezone.now(),
    )
    rows = notify(org.id, "test.reminder", customer_id=customer.id, context={"amount": 1})
    (row,) = [r for r in rows if r.channel == "push"]
    assert row.status == NotificationStatus.SKIPPED and "paused" in row.last_error
    subscribe(customer, push_service)
    rows = notify(org.id, "test.reminder", customer_id=customer.id, context={"amount": 2})
    (row,) = [r for r in rows if r.channel == "push"]
    tasks()
    row.refresh_from_db()
    assert row.status == NotificationStatus.SENT
    assert len(push_service.received) == 2  # both live subscriptions


def test_a_busy_push_service_is_retried_after_its_retry_after(
    org: Organization, push_service: PushService, tasks: Tasks
) -> None:
    customer = make_customer(org)
    subscription = subscribe(customer, push_service)
    token = push_service.token_of(subscription.endpoint)
    push_service.answer[token] = (429, {"Retry-After": "7200"})
    (row,) = [
        r
        for r in notify(org.id, "test.reminder", customer_id=customer.id, context={"amount": "1"})
        if r.channel == "push"
    ]
    tasks()
    row.refresh_from_db()
    assert row.status == NotificationStatus.RETRYING
    assert "429" in row.last_error
    assert row.next_attempt_at is not None and row.last_attempt_at is not None
    # Retry-After (2 h) is longer than the first backoff step (1 min) and wins.
    assert (row.next_attempt_at - row.last_attempt_at).total_seconds() >= 7200
    del push_service.answer[token]
    from tests.notifications.test_email import make_due_now

    make_due_now()
    tasks()
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 2)
    assert len(push_service.received) == 1


def test_subscriptions_are_validated_and_can_be_removed(
    org: Organization, push_service: PushService
) -> None:
    customer = make_customer(org)
    good = push_service.subscribe()
    with pytest.raises(KassaError) as bad_key:
        subscribe_push(customer, good["endpoint"], good["p256dh"][:-4], good["auth"])
    assert bad_key.value.param == "p256dh"
    with pytest.raises(KassaError) as bad_auth:
        subscribe_push(customer, good["endpoint"], good["p256dh"], "!!not base64!!")
    assert bad_auth.value.param == "auth"
    with pytest.raises(KassaError) as bad_endpoint:
        subscribe_push(customer, "ftp://push.example.com/x", good["p256dh"], good["auth"])
    assert bad_endpoint.value.param == "endpoint"
    with override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=False):
        for endpoint in (
            good["endpoint"],  # loopback
            "https://10.1.2.3/push/x",  # private
            "https://169.254.169.254/latest",  # link-local
            "http://93.184.215.14/push/x",  # public but not https
        ):
            with pytest.raises(KassaError) as refused:
                subscribe_push(customer, endpoint, good["p256dh"], good["auth"])
            assert refused.value.param == "endpoint", endpoint
    assert PushSubscription.objects.count() == 0
    first = subscribe_push(customer, **good)
    again = subscribe_push(customer, **good)
    assert first.pk == again.pk
    unsubscribe_push(customer, good["endpoint"])
    assert PushSubscription.objects.count() == 0
    assert Notification.objects.count() == 0


def test_an_endpoint_that_is_private_at_send_time_is_not_called(
    org: Organization, push_service: PushService, tasks: Tasks
) -> None:
    customer = make_customer(org)
    subscribe(customer, push_service)  # accepted while private addresses were allowed
    (row,) = [
        r
        for r in notify(org.id, "test.reminder", customer_id=customer.id, context={"amount": "1"})
        if r.channel == "push"
    ]
    with override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=False):
        tasks()
    row.refresh_from_db()
    assert row.status == NotificationStatus.RETRYING
    assert "public address" in row.last_error
    assert push_service.received == [] and push_service.rejected == []


def test_an_unforeseen_error_is_retried_not_left_sending(
    org: Organization, push_service: PushService, tasks: Tasks
) -> None:
    customer = make_customer(org)
    subscription = subscribe(customer, push_service)
    # Keys that pass the format check but are not a point on the curve: encryption fails
    # inside pywebpush with an error the channel does not know.
    PushSubscription.objects.filter(pk=subscription.pk).update(
        p256dh=webpush.b64url(b"\x04" + b"\x01" * 64)
    )
    (row,) = [
        r
        for r in notify(org.id, "test.reminder", customer_id=customer.id, context={"amount": "1"})
        if r.channel == "push"
    ]
    tasks()
    row.refresh_from_db()
    assert row.status == NotificationStatus.RETRYING
    assert "unexpected error" in row.last_error
    assert row.next_attempt_at is not None
