"""The notifications core through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from kassa.core.models import Membership, Organization, Role
from kassa.customers.models import Customer
from kassa.notifications import delivery
from kassa.notifications.models import Notification, NotificationStatus, RecipientState
from kassa.notifications.services import (
    UnknownNotificationType,
    notify,
    notify_staff,
    resend,
    set_preference,
)
from tests.mail import SmtpServer, text_and_html

pytestmark = pytest.mark.django_db

Tasks = Callable[[], int]


def make_customer(org: Organization, **fields: str) -> Customer:
    defaults = {"email": "ann@example.com", "name": "Ann", "locale": ""}
    return Customer.objects.create(organization=org, **{**defaults, **fields})


def deliveries() -> int:
    return DBTaskResult.objects.filter(task_path__endswith="deliver_notification").count()


def make_due_now() -> None:
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())


def test_email_has_both_parts_and_arrives(
    org: Organization, smtp: SmtpServer, tasks: Tasks
) -> None:
    customer = make_customer(org, locale="en")
    rows = notify(org.id, "test.receipt", customer_id=customer.id, context={"amount": "12.00 UZS"})
    assert [(r.channel, r.recipient, r.status) for r in rows] == [
        ("email", "ann@example.com", "queued")
    ]
    tasks()
    (message,) = smtp.wait_for(1)
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "Receipt 12.00 UZS [en]"
    assert message["X-Kassa-Notification"] == rows[0].id
    text, html = text_and_html(message)
    assert "Hello Ann, we received 12.00 UZS." in text
    assert "<strong>12.00 UZS</strong>" in html
    assert "You receive this message from Acme Tours." in text
    assert "Acme Tours" in html
    row = Notification.objects.get(pk=rows[0].id)
    assert row.status == NotificationStatus.SENT
    assert row.attempts == 1
    assert row.sent_at is not None


@pytest.mark.parametrize(
    ("customer_locale", "org_locale", "explicit", "lang", "footer"),
    [
        ("de", "ru", None, "de", "Sie erhalten diese Nachricht von Acme Tours."),
        ("", "ru", None, "ru", "Вы получили это сообщение от Acme Tours."),
        ("de", "ru", "uz", "uz", "Bu xabar sizga Acme Tours tomonidan yuborildi."),
    ],
)
def test_the_language_is_the_customers_then_the_organizations(
    org: Organization,
    smtp: SmtpServer,
    tasks: Tasks,
    customer_locale: str,
    org_locale: str,
    explicit: str | None,
    lang: str,
    footer: str,
) -> None:
    Organization.objects.filter(pk=org.id).update(locale=org_locale)
    customer = make_customer(org, locale=customer_locale)
    notify(
        org.id, "test.receipt", customer_id=customer.id, context={"amount": "5"}, locale=explicit
    )
    tasks()
    (message,) = smtp.wait_for(1)
    assert message["Subject"] == f"Receipt 5 [{lang}]"
    text, html = text_and_html(message)
    assert footer in text
    assert footer in html
    assert f'<html lang="{lang}">' in html


def test_to_email_stands_in_for_the_customer(
    org: Organization, smtp: SmtpServer, tasks: Tasks
) -> None:
    rows = notify(org.id, "test.receipt", to_email="signin@example.com", context={"amount": "1"})
    tasks()
    (message,) = smtp.wait_for(1)
    assert message["To"] == "signin@example.com"
    assert rows[0].customer_id is None


def test_nothing_is_stored_or_sent_when_the_cause_rolls_back(
    org: Organization, smtp: SmtpServer, tasks: Tasks
) -> None:
    customer = make_customer(org)

    class Boom(Exception):
        pass

    def cause() -> None:
        with transaction.atomic():
            notify(org.id, "test.receipt", customer_id=customer.id, context={"amount": "1"})
            raise Boom

    with pytest.raises(Boom):
        cause()
    assert not Notification.objects.exists()
    assert deliveries() == 0
    tasks()
    assert smtp.messages == []


def test_a_repeated_dedupe_key_returns_the_same_rows_and_sends_once(
    org: Organization, smtp: SmtpServer, tasks: Tasks
) -> None:
    customer = make_customer(org)
    first = notify(
        org.id, "test.receipt", customer_id=customer.id, context={"amount": "1"}, dedupe_key="r-1"
    )
    again = notify(
        org.id, "test.receipt", customer_id=customer.id, context={"amount": "1"}, dedupe_key="r-1"
    )
    assert [r.id for r in again] == [r.id for r in first]
    assert deliveries() == 1
    tasks()
    smtp.wait_for(1)
    # The same key in another organization is another notification.
    other = Organization.objects.create(name="Other")
    other_customer = make_customer(other)
    notify(
        other.id,
        "test.receipt",
        customer_id=other_customer.id,
        context={"amount": "1"},
        dedupe_key="r-1",
    )
    assert Notification.objects.count() == 2


def test_staff_notifications_go_to_members_with_the_roles(
    org: Organization, smtp: SmtpServer, tasks: Tasks
) -> None:
    users = get_user_model().objects
    owner = users.create_user("owner", email="owner@example.com")
    admin = users.create_user("admin", email="admin@example.com")
    viewer = users.create_user("viewer", email="viewer@example.com")
    stranger = users.create_user("stranger", email="stranger@example.com")
    Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
    Membership.objects.create(user=admin, organization=org, role=Role.ADMIN)
    Membership.objects.create(user=viewer, organization=org, role=Role.VIEWER)
    other = Organization.objects.create(name="Other")
    Membership.objects.create(user=stranger, organization=other, role=Role.OWNER)

    only_owners = notify_staff(org.id, "test.alert", context={"what": "a"})
    assert [r.recipient for r in only_owners] == ["owner@example.com"]
    both = notify_staff(org.id, "test.alert", context={"what": "b"}, roles=("owner", "admin"))
    assert sorted(r.recipient for r in both) == ["admin@example.com", "owner@example.com"]
    tasks()
    messages = smtp.wait_for(3)
    assert sorted(m["To"] for m in messages) == [
        "admin@example.com",
        "owner@example.com",
        "owner@example.com",
    ]
    # Staff mail is in the organization's language (ru by default).
    assert all(m["Subject"] == "Alert for Acme Tours [ru]" for m in messages)


def test_preferences_switch_a_channel_off_and_the_row_records_it(
    org: Organization, smtp: SmtpServer, tasks: Tasks
) -> None:
    customer = make_customer(org)
    set_preference(customer, "test.receipt", "email", False)
    (row,) = notify(org.id, "test.receipt", customer_id=customer.id, context={"amount": "1"})
    assert row.status == NotificationStatus.SKIPPED
    assert "preferences" in row.last_error
    assert deliveries() == 0
    # A preference for every type is overridden by one for the exact type.
    set_preference(customer, "*", "email", False)
    set_preference(customer, "test.receipt", "email", True)
    (row,) = notify(org.id, "test.receipt", customer_id=customer.id, context={"amount": "2"})
    assert row.status == NotificationStatus.QUEUED
    tasks()
    (message,) = smtp.wait_for(1)
    assert message["Subject"].startswith("Receipt 2")


def test_a_deferred_recipient_is_retried_with_backoff_then_sent(
    org: Organization, smtp: SmtpServer, tasks: Tasks
) -> None:
    customer = make_customer(org)
    smtp.defer.add("ann@example.com")
    (row,) = notify(org.id, "test.receipt", customer_id=customer.id, context={"amount": "1"})
    before = timezone.now()
    tasks()
    row.refresh_from_db()
    assert row.status == NotificationStatus.RETRYING
    assert row.attempts == 1
    assert "451" in row.last_error
    assert row.next_attempt_at is not None
    assert row.next_attempt_at >= before + delivery.RETRY_DELAYS[0]
    # Not due yet: running the worker again sends nothing.
    assert tasks() == 0
    smtp.defer.clear()
    make_due_now()
    tasks()
    smtp.wait_for(1)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 2)


def test_it_gives_up_after_the_last_attempt(
    org: Organization, smtp: SmtpServer, tasks: Tasks
) -> None:
    customer = make_customer(org)
    smtp.defer.add("ann@example.com")
    (row,) = notify(org.id, "test.receipt", customer_id=customer.id, context={"amount": "1"})
    for _ in range(delivery.MAX_ATTEMPTS + 2):
        tasks()
        make_due_now()
    row.refresh_from_db()
    assert row.status == NotificationStatus.FAILED
    assert row.attempts == delivery.MAX_ATTEMPTS
    assert smtp.messages == []


def test_bounces_pause_the_channel_for_the_address(
    org: Organization, smtp: SmtpServer, tasks: Tasks
) -> None:
    customer = make_customer(org)
    smtp.reject.add("ann@example.com")
    for n in range(delivery.PAUSE_AFTER_HARD_FAILURES):
        (row,) = notify(org.id, "test.receipt", customer_id=customer.id, context={"amount": n})
        tasks()
        row.refresh_from_db()
        assert row.status == NotificationStatus.FAILED
        assert row.attempts == 1  # a bounce is not retried
        assert "550" in row.last_error
    state = RecipientState.objects.get(channel="email", recipient="ann@example.com")
    assert state.hard_failures == delivery.PAUSE_AFTER_HARD_FAILURES
    assert state.paused_at is not None
    smtp.reject.clear()
    (row,) = notify(org.id, "test.receipt", customer_id=customer.id, context={"amount": "x"})
    assert row.status == NotificationStatus.SKIPPED
    assert "paused" in row.last_error
    tasks()
    assert smtp.messages == []


def test_resend_sends_a_copy(org: Organization, smtp: SmtpServer, tasks: Tasks) -> None:
    customer = make_customer(org)
    (row,) = notify(org.id, "test.receipt", customer_id=customer.id, context={"amount": "7"})
    tasks()
    copy = resend(row.id)
    assert copy.id != row.id
    tasks()
    messages = smtp.wait_for(2)
    assert [m["Subject"] for m in messages] == ["Receipt 7 [ru]", "Receipt 7 [ru]"]


def test_a_worker_that_died_mid_send_is_recovered(
    org: Organization, smtp: SmtpServer, tasks: Tasks
) -> None:
    customer = make_customer(org)
    (row,) = notify(org.id, "test.receipt", customer_id=customer.id, context={"amount": "1"})
    # The claim committed, then the process died before recording the outcome.
    Notification.objects.filter(pk=row.id).update(
        status=NotificationStatus.SENDING, attempts=1, last_attempt_at=timezone.now()
    )
    tasks()  # the requeued task sees a fresh SENDING row and looks again later
    assert smtp.messages == []
    Notification.objects.filter(pk=row.id).update(
        last_attempt_at=timezone.now() - delivery.STALE_SENDING - timedelta(seconds=1)
    )
    make_due_now()
    tasks()
    smtp.wait_for(1)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 2)


def test_bad_calls_are_refused(org: Organization) -> None:
    customer = make_customer(org)
    with pytest.raises(UnknownNotificationType):
        notify(org.id, "no.such", customer_id=customer.id, context={})
    with pytest.raises(TypeError):
        notify(org.id, "test.receipt", customer_id=customer.id, context={"when": timezone.now()})
    with pytest.raises(ValueError, match="staff"):
        notify(org.id, "test.alert", customer_id=customer.id, context={})
    with pytest.raises(ValueError, match="customer"):
        notify_staff(org.id, "test.receipt", context={})
    other = Organization.objects.create(name="Other")
    with pytest.raises(Customer.DoesNotExist):
        notify(other.id, "test.receipt", customer_id=customer.id, context={})
    assert not Notification.objects.exists()
