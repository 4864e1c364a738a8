"""The notifications admin: filters, resend, unpause, template previews in every language."""

from __future__ import annotations

import html
from collections.abc import Callable

import pytest

from kassa.core.models import AuditLogEntry, Organization
from kassa.customers.models import Customer
from kassa.notifications.models import Notification, NotificationStatus, RecipientState
from kassa.notifications.services import notify
from tests.conftest import make_org
from tests.core.test_admin import staff_client
from tests.mail import SmtpServer

pytestmark = pytest.mark.django_db

Tasks = Callable[[], int]
LIST = "/admin/notifications/notification/"


def make_customer(org: Organization, email: str = "ann@example.com") -> Customer:
    return Customer.objects.create(organization=org, name="Ann", email=email, locale="en")


def test_the_list_filters_and_shows_only_the_staffs_organization(org: Organization) -> None:
    (mine,) = notify(org.id, "test.receipt", customer_id=make_customer(org).id, context={})
    other = make_org("Other Org")
    (theirs,) = notify(other.id, "test.receipt", customer_id=make_customer(other).id, context={})
    viewer = staff_client(org, "viewer", "view@x.test")
    page = viewer.get(LIST).content.decode()
    assert mine.id in page and theirs.id not in page
    assert mine.id in viewer.get(LIST, {"channel": "email", "status": "queued"}).content.decode()
    assert mine.id not in viewer.get(LIST, {"status": "sent"}).content.decode()
    assert mine.id in viewer.get(LIST, {"type": "test.receipt"}).content.decode()
    assert mine.id not in viewer.get(LIST, {"channel": "sms"}).content.decode()
    assert viewer.get(f"{LIST}{mine.id}/change/").status_code == 200


def test_admins_resend_and_viewers_cannot(
    org: Organization, smtp: SmtpServer, tasks: Tasks
) -> None:
    (row,) = notify(org.id, "test.receipt", customer_id=make_customer(org).id, context={})
    tasks()
    viewer = staff_client(org, "viewer", "view@x.test")
    viewer.post(LIST, {"action": "resend", "_selected_action": [row.id]})
    assert Notification.objects.count() == 1
    admin = staff_client(org, "admin", "adm@x.test")
    response = admin.post(LIST, {"action": "resend", "_selected_action": [row.id]})
    assert response.status_code == 302
    assert Notification.objects.count() == 2
    entry = AuditLogEntry.objects.get(action="notifications.notification.resend")
    assert (entry.actor_label, entry.object_id) == ("adm@x.test", row.id)
    tasks()
    smtp.wait_for(2)
    assert Notification.objects.filter(status=NotificationStatus.SENT).count() == 2


def test_paused_recipients_are_listed_and_unpaused(
    org: Organization, smtp: SmtpServer, tasks: Tasks
) -> None:
    customer = make_customer(org)
    smtp.reject.add("ann@example.com")
    for n in range(3):
        notify(org.id, "test.receipt", customer_id=customer.id, context={"amount": n})
        tasks()
    state = RecipientState.objects.get()
    assert state.paused_at is not None
    admin = staff_client(org, "admin", "adm@x.test")
    page = admin.get("/admin/notifications/recipientstate/", {"paused_at__isnull": "False"})
    assert "ann@example.com" in page.content.decode()
    admin.post(
        "/admin/notifications/recipientstate/",
        {"action": "unpause", "_selected_action": [state.pk]},
    )
    state.refresh_from_db()
    assert (state.paused_at, state.hard_failures) == (None, 0)
    assert AuditLogEntry.objects.filter(action="notifications.recipient.unpause").count() == 1
    smtp.reject.clear()
    (row,) = notify(org.id, "test.receipt", customer_id=customer.id, context={"amount": "ok"})
    assert row.status == NotificationStatus.QUEUED
    tasks()
    smtp.wait_for(1)


@pytest.mark.parametrize(
    ("locale", "footer"),
    [
        ("en", "You receive this message from Acme Tours."),
        ("de", "Sie erhalten diese Nachricht von Acme Tours."),
        ("ru", "Вы получили это сообщение от Acme Tours."),
        ("uz", "Bu xabar sizga Acme Tours tomonidan yuborildi."),
    ],
)
def test_templates_preview_in_each_language(org: Organization, locale: str, footer: str) -> None:
    viewer = staff_client(org, "viewer", "view@x.test")
    index = viewer.get("/admin/notifications/notification/previews/").content.decode()
    for key in ("test.receipt", "test.reminder", "test.alert"):
        assert key in index
    assert f"/admin/notifications/notification/previews/test.receipt/{locale}/" in index
    page = viewer.get(f"/admin/notifications/notification/previews/test.receipt/{locale}/")
    assert page.status_code == 200
    body = html.unescape(page.content.decode())
    assert f"Receipt 12.00 UZS [{locale}]" in body  # the type's sample context
    assert f"Received 12.00 UZS [{locale}]" in body
    assert "Hello Ann Example, we received 12.00 UZS." in body
    assert footer in body
    # The HTML part sits escaped in a sandboxed srcdoc frame.
    assert 'sandbox srcdoc="' in page.content.decode()
    assert "&lt;strong&gt;12.00 UZS&lt;/strong&gt;" in page.content.decode()


def test_previews_of_unknown_types_or_languages_are_404(org: Organization) -> None:
    viewer = staff_client(org, "viewer", "view@x.test")
    assert viewer.get("/admin/notifications/notification/previews/no.such/en/").status_code == 404
    assert (
        viewer.get("/admin/notifications/notification/previews/test.receipt/fr/").status_code == 404
    )


def test_a_template_that_needs_more_than_the_sample_shows_why(org: Organization) -> None:
    # test.reminder has no sample: the receipt template still renders (missing values are
    # empty); every registered type's preview answers 200, never a server error.
    from kassa.notifications.registry import registered_types

    viewer = staff_client(org, "viewer", "view@x.test")
    for ntype in registered_types():
        for locale in ("en", "de", "ru", "uz"):
            page = viewer.get(f"/admin/notifications/notification/previews/{ntype.key}/{locale}/")
            assert page.status_code == 200, (ntype.key, locale)
