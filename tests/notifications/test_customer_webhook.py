"""The customer webhook channel: signed per Standard Webhooks, verified by a loopback receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings

from kassa.core.actors import Actor
from kassa.core.models import AuditLogEntry, Organization
from kassa.customers.models import Customer
from kassa.notifications.errors import InvalidCallbackUrl
from kassa.notifications.models import (
    CustomerWebhook,
    Notification,
    NotificationStatus,
    RecipientState,
)
from kassa.notifications.services import notify, set_customer_webhook
from tests.conftest import ApiClient
from tests.notifications.test_email import make_due_now
from tests.simulators.callback_receiver import CallbackReceiver

pytestmark = pytest.mark.django_db

Tasks = Callable[[], int]
STAFF = Actor.system("test")


@pytest.fixture
def _loopback_allowed() -> Iterator[None]:
    with override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=True):
        yield


def make_customer(org: Organization) -> Customer:
    return Customer.objects.create(organization=org, name="Ann", email="", locale="ru")


def hook_row(org: Organization, customer: Customer, amount: Any = "9 UZS") -> Notification:
    rows = notify(org.id, "test.reminder", customer_id=customer.id, context={"amount": amount})
    (row,) = [r for r in rows if r.channel == "webhook"]
    return row


@pytest.mark.usefixtures("_loopback_allowed")
def test_a_signed_notification_reaches_the_customers_callback(
    org: Organization, receiver: CallbackReceiver, tasks: Tasks
) -> None:
    customer = make_customer(org)
    hook, receiver.secret = set_customer_webhook(
        customer, receiver.url, live_mode=False, actor=STAFF
    )
    assert receiver.secret.startswith("whsec_")
    assert receiver.secret not in hook.secret  # stored encrypted
    row = hook_row(org, customer)
    assert row.recipient == receiver.url
    tasks()
    assert receiver.unverified == []
    ((headers, payload),) = receiver.verified
    assert headers["webhook-id"] == row.id
    assert payload["id"] == row.id
    assert payload["type"] == "test.reminder"
    data = payload["data"]
    assert data["customer"] == customer.id
    assert data["locale"] == "ru"
    assert data["subject"] == "Receipt 9 UZS [ru]"
    assert data["short"] == "Received 9 UZS [ru]"
    assert "Вы получили это сообщение от Acme Tours." in data["text"]
    assert data["context"] == {"amount": "9 UZS"}
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 1)


@pytest.mark.usefixtures("_loopback_allowed")
def test_a_wrong_secret_does_not_verify(
    org: Organization, receiver: CallbackReceiver, tasks: Tasks
) -> None:
    customer = make_customer(org)
    set_customer_webhook(customer, receiver.url, live_mode=False, actor=STAFF)
    _, receiver.secret = set_customer_webhook(
        make_customer(org), receiver.url, live_mode=False, actor=STAFF
    )  # another customer's secret
    row = hook_row(org, customer)
    tasks()
    assert receiver.verified == []
    assert len(receiver.unverified) == 1
    row.refresh_from_db()
    assert row.status == NotificationStatus.RETRYING


@pytest.mark.usefixtures("_loopback_allowed")
def test_retries_keep_the_webhook_id_and_honour_retry_after(
    org: Organization, receiver: CallbackReceiver, tasks: Tasks
) -> None:
    customer = make_customer(org)
    _, receiver.secret = set_customer_webhook(customer, receiver.url, live_mode=False, actor=STAFF)
    receiver.answers = [(503, {"Retry-After": "3600"})]
    row = hook_row(org, customer)
    tasks()
    row.refresh_from_db()
    assert row.status == NotificationStatus.RETRYING
    assert "503" in row.last_error
    assert row.next_attempt_at is not None and row.last_attempt_at is not None
    assert (row.next_attempt_at - row.last_attempt_at).total_seconds() >= 3600
    make_due_now()
    tasks()
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 2)
    ((headers, _),) = receiver.verified
    assert headers["webhook-id"] == row.id


@pytest.mark.usefixtures("_loopback_allowed")
def test_410_disables_the_callback(
    org: Organization, receiver: CallbackReceiver, tasks: Tasks
) -> None:
    customer = make_customer(org)
    _, receiver.secret = set_customer_webhook(customer, receiver.url, live_mode=False, actor=STAFF)
    receiver.answers = [(410, {})]
    row = hook_row(org, customer)
    tasks()
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 1)
    assert CustomerWebhook.objects.get(customer=customer).disabled_at is not None
    assert RecipientState.objects.get(channel="webhook").hard_failures == 1
    # Disabled: later notifications skip the channel.
    assert hook_row(org, customer, "2").status == NotificationStatus.SKIPPED
    # Setting the URL again enables it.
    _, receiver.secret = set_customer_webhook(customer, receiver.url, live_mode=False, actor=STAFF)
    row = hook_row(org, customer, "3")
    tasks()
    row.refresh_from_db()
    assert row.status == NotificationStatus.SENT


def test_private_and_plain_http_urls_are_refused(
    org: Organization, receiver: CallbackReceiver
) -> None:
    customer = make_customer(org)
    for url, live in [
        (receiver.url, False),  # loopback
        ("http://10.0.0.5/hook", False),  # private
        ("http://169.254.169.254/latest/meta-data", False),  # link-local (cloud metadata)
        ("http://93.184.215.14/hook", True),  # not https in live mode
        ("ftp://93.184.215.14/hook", False),
    ]:
        with pytest.raises(InvalidCallbackUrl) as refused:
            set_customer_webhook(customer, url, live_mode=live, actor=STAFF)
        assert refused.value.param == "url", url
    assert not CustomerWebhook.objects.exists()


@pytest.mark.usefixtures("_loopback_allowed")
def test_the_callback_api(org: Organization, api: ApiClient, receiver: CallbackReceiver) -> None:
    customer = make_customer(org)
    path = f"/v1/customers/{customer.id}/notification_webhook"
    assert api.get(path).status_code == 404
    response = api.put(path, {"url": receiver.url})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert (body["url"], body["status"], body["customer"]) == (
        receiver.url,
        "enabled",
        customer.id,
    )
    shown = api.get(path).json()
    assert shown["secret"] is None and shown["id"] == body["id"]
    bad = api.put(path, {"url": "gopher://x"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_callback_url"
    assert AuditLogEntry.objects.filter(action="notifications.customer_webhook.set").count() == 1
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404


@pytest.mark.usefixtures("_loopback_allowed")
def test_a_callback_that_is_private_at_send_time_is_not_called(
    org: Organization, receiver: CallbackReceiver, tasks: Tasks
) -> None:
    customer = make_customer(org)
    _, receiver.secret = set_customer_webhook(customer, receiver.url, live_mode=False, actor=STAFF)
    row = hook_row(org, customer)
    with override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=False):
        tasks()
    row.refresh_from_db()
    assert row.status == NotificationStatus.RETRYING
    assert "public address" in row.last_error
    assert receiver.verified == [] and receiver.unverified == []
