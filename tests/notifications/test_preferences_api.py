"""Per-customer preferences through the API, honoured by notify; the notifications list."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kassa.core.models import AuditLogEntry, Organization
from kassa.customers.models import Customer
from kassa.notifications.models import NotificationStatus
from kassa.notifications.services import notify
from tests.conftest import ApiClient, make_org
from tests.mail import SmtpServer

pytestmark = pytest.mark.django_db

Tasks = Callable[[], int]


def make_customer(org: Organization) -> Customer:
    return Customer.objects.create(
        organization=org, name="Ann", email="ann@example.com", phone="+998901234567", locale="en"
    )


def channels(api: ApiClient, customer: Customer, type_key: str) -> dict[str, tuple[bool, str]]:
    body = api.get(f"/v1/customers/{customer.id}/notification_preferences").json()
    (entry,) = [t for t in body["data"] if t["type"] == type_key]
    return {c: (v["enabled"], v["source"]) for c, v in entry["channels"].items()}


def test_defaults_then_changes_are_shown_and_honoured(
    org: Organization, api: ApiClient, smtp: SmtpServer, tasks: Tasks
) -> None:
    customer = make_customer(org)
    body = api.get(f"/v1/customers/{customer.id}/notification_preferences").json()
    assert body["customer"] == customer.id
    # Staff types are not the customer's to choose.
    assert "test.alert" not in {t["type"] for t in body["data"]}
    assert channels(api, customer, "test.receipt") == {
        "email": (True, "default"),
        "sms": (False, "default"),
        "push": (False, "default"),
        "webhook": (False, "default"),
    }
    response = api.put(
        f"/v1/customers/{customer.id}/notification_preferences",
        {
            "preferences": [
                {"type": "*", "channel": "email", "enabled": False},
                {"type": "test.receipt", "channel": "email", "enabled": True},
                {"type": "test.reminder", "channel": "sms", "enabled": False},
            ]
        },
    )
    assert response.status_code == 200, response.content
    assert channels(api, customer, "test.receipt")["email"] == (True, "type")
    assert channels(api, customer, "test.reminder")["email"] == (False, "all")
    assert channels(api, customer, "test.reminder")["sms"] == (False, "type")
    assert AuditLogEntry.objects.filter(action="notifications.preferences.update").count() == 1

    reminder = {
        r.channel: r
        for r in notify(org.id, "test.reminder", customer_id=customer.id, context={"amount": "1"})
    }
    assert reminder["email"].status == NotificationStatus.SKIPPED
    assert reminder["sms"].status == NotificationStatus.SKIPPED
    assert "preferences" in reminder["email"].last_error
    (receipt,) = notify(org.id, "test.receipt", customer_id=customer.id, context={"amount": "2"})
    assert receipt.status == NotificationStatus.QUEUED
    tasks()
    (message,) = smtp.wait_for(1)
    assert message["Subject"] == "Receipt 2 [en]"

    # null removes the customer's own setting: the default applies again.
    api.put(
        f"/v1/customers/{customer.id}/notification_preferences",
        {"preferences": [{"type": "*", "channel": "email", "enabled": None}]},
    )
    assert channels(api, customer, "test.reminder")["email"] == (True, "default")


def test_bad_changes_are_refused_and_change_nothing(org: Organization, api: ApiClient) -> None:
    customer = make_customer(org)
    path = f"/v1/customers/{customer.id}/notification_preferences"
    for change, code, status in [
        (
            {"type": "no.such", "channel": "email", "enabled": False},
            "unknown_notification_type",
            400,
        ),
        (
            {"type": "test.alert", "channel": "email", "enabled": False},
            "unknown_notification_type",
            400,
        ),
        (
            {"type": "test.receipt", "channel": "fax", "enabled": False},
            "parameter_invalid_choice",
            422,
        ),
    ]:
        good = {"type": "test.receipt", "channel": "sms", "enabled": True}
        response = api.put(path, {"preferences": [good, change]})
        assert response.status_code == status, response.content
        assert response.json()["error"]["code"] == code
    assert channels(api, customer, "test.receipt")["sms"] == (False, "default")


def test_another_organizations_customer_is_404(
    org: Organization, make_api: Callable[[Organization, str], ApiClient]
) -> None:
    other = make_org("Other Org")
    customer = make_customer(org)
    outsider = make_api(other, "test")
    assert outsider.get(f"/v1/customers/{customer.id}/notification_preferences").status_code == 404
    response = outsider.put(
        f"/v1/customers/{customer.id}/notification_preferences",
        {"preferences": [{"type": "*", "channel": "email", "enabled": False}]},
    )
    assert response.status_code == 404
    assert outsider.get(f"/v1/customers/{customer.id}/notification_webhook").status_code == 404


def test_notifications_are_listed_filtered_and_resent(
    org: Organization, api: ApiClient, smtp: SmtpServer, tasks: Tasks
) -> None:
    customer = make_customer(org)
    notify(org.id, "test.reminder", customer_id=customer.id, context={"amount": "1"})
    listed = api.get("/v1/notifications").json()["data"]
    assert {(n["channel"], n["status"]) for n in listed} == {
        ("email", "queued"),
        ("sms", "skipped"),  # no SMS provider configured in tests
        ("push", "skipped"),
        ("webhook", "skipped"),
    }
    (email,) = api.get("/v1/notifications", channel="email").json()["data"]
    assert api.get("/v1/notifications", status="skipped", type="test.reminder").json()["data"] != []
    assert api.get("/v1/notifications", type="test.receipt").json()["data"] == []
    assert api.get("/v1/notifications", channel="fax").status_code == 422
    tasks()
    assert api.get(f"/v1/notifications/{email['id']}").json()["status"] == "sent"
    again = api.post(f"/v1/notifications/{email['id']}/resend")
    assert again.status_code == 200, again.content
    assert again.json()["id"] != email["id"]
    tasks()
    smtp.wait_for(2)
    other = make_org("Other Org")
    other_customer = make_customer(other)
    (foreign,) = [
        r
        for r in notify(
            other.id, "test.receipt", customer_id=other_customer.id, context={"amount": "1"}
        )
    ]
    assert api.get(f"/v1/notifications/{foreign.id}").status_code == 404
    assert api.post(f"/v1/notifications/{foreign.id}/resend").status_code == 404
