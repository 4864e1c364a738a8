"""Staff in the admin: bookings with balances and filters, send a reminder now, payment links
(copy, invalidate, regenerate: audited), reminder settings, the dashboard and CSV export."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from kassa.bookings import clock
from kassa.bookings.models import PaymentLink, Reminder, ReminderSettings
from kassa.core.models import AuditLogEntry
from kassa.payments.models import Payment
from tests.bookings.conftest import make_customer, path_of
from tests.conftest import make_org
from tests.core.test_admin import staff_client

pytestmark = pytest.mark.django_db

BOOKINGS = "/admin/bookings/booking/"
LINKS = "/admin/bookings/paymentlink/"
MakeBooking = Callable[..., dict[str, Any]]


def run_action(client: Any, url: str, name: str, ids: list[str], reason: str) -> Any:
    return client.post(
        url, {"action": name, "_selected_action": ids, "confirm": "1", "reason": reason}
    )


def test_bookings_list_filters_and_balances(make_booking: MakeBooking, org: Any, api: Any) -> None:
    today = clock.now().date()
    soon = make_booking(reference="SOON", service_date=(today + timedelta(days=3)).isoformat())
    make_booking(reference="LATER", service_date=(today + timedelta(days=60)).isoformat())
    make_booking(reference="LATE", service_date=(today - timedelta(days=2)).isoformat())
    make_booking(reference="DONE", total_amount=100, deposit_paid=100)
    other = make_org("Elsewhere")
    other_customer = make_customer(other, email="x@example.com")
    from kassa.bookings import services

    services.create_booking(
        other,
        customer_id=other_customer.id,
        reference="FOREIGN",
        service_date=today + timedelta(days=3),
        total_amount=100,
        currency="UZS",
        livemode=False,
    )
    staff = staff_client(org, "viewer", "view@x.test")
    page = staff.get(BOOKINGS).content.decode()
    assert "SOON" in page and "LATER" in page and "FOREIGN" not in page
    assert "350,000.00" in page  # the balance due column

    def listed(balance: str) -> set[str]:
        html = staff.get(BOOKINGS, {"balance": balance}).content.decode()
        return {ref for ref in ("SOON", "LATER", "LATE", "DONE") if f">{ref}<" in html}

    assert listed("due_soon") == {"SOON"}
    assert listed("overdue") == {"LATE"}
    assert listed("paid") == {"DONE"}
    detail = staff.get(f"{BOOKINGS}{soon['id']}/change/")
    assert detail.status_code == 200 and "SOON" in detail.content.decode()


def test_send_reminder_now_and_new_link_are_audited(make_booking: MakeBooking, org: Any) -> None:
    booking = make_booking()
    finance = staff_client(org, "finance", "fin@x.test")
    response = run_action(finance, BOOKINGS, "send_reminder_now", [booking["id"]], "asked by phone")
    assert response.status_code == 302
    reminder = Reminder.objects.get()
    assert (reminder.kind, reminder.status) == ("manual", "sent")
    entry = AuditLogEntry.objects.get(action="booking.reminder_sent")
    assert (entry.actor_label, entry.reason) == ("fin@x.test", "asked by phone")
    first = PaymentLink.objects.get()
    run_action(finance, BOOKINGS, "new_payment_link", [booking["id"]], "customer lost the email")
    assert PaymentLink.objects.get(pk=first.pk).status == "invalidated"
    assert PaymentLink.objects.filter(status="active").count() == 1
    assert AuditLogEntry.objects.filter(action="payment_link.created").count() == 1


def test_viewers_cannot_act(make_booking: MakeBooking, org: Any) -> None:
    booking = make_booking()
    viewer = staff_client(org, "viewer", "view@x.test")
    run_action(viewer, BOOKINGS, "cancel_booking", [booking["id"]], "not allowed")
    run_action(viewer, BOOKINGS, "send_reminder_now", [booking["id"]], "not allowed")
    assert not Reminder.objects.exists()
    assert not AuditLogEntry.objects.filter(action__startswith="booking.").exists()


def test_payment_links_copy_invalidate_regenerate(
    make_booking: MakeBooking, api: Any, org: Any
) -> None:
    booking = make_booking()
    link = api.post(f"/v1/bookings/{booking['id']}/payment_links").json()
    finance = staff_client(org, "finance", "fin@x.test")
    page = finance.get(LINKS, {"state": "active"}).content.decode()
    assert link["id"] in page and link["url"] in page and "navigator.clipboard" in page
    run_action(finance, LINKS, "regenerate", [link["id"]], "sent to the wrong address")
    old = PaymentLink.objects.get(pk=link["id"])
    new = PaymentLink.objects.get(status="active")
    assert old.status == "invalidated" and new.id != old.id
    actions = set(AuditLogEntry.objects.values_list("action", flat=True))
    assert {"payment_link.regenerated", "payment_link.invalidated"} <= actions
    run_action(finance, LINKS, "invalidate", [new.id], "booking moved")
    assert PaymentLink.objects.get(pk=new.id).status == "invalidated"
    assert AuditLogEntry.objects.filter(
        action="payment_link.invalidated", object_id=new.id, reason="booking moved"
    ).exists()
    invalidated = finance.get(LINKS, {"state": "invalidated"}).content.decode()
    assert old.id in invalidated and new.id in invalidated


def test_csv_export_and_dashboard(make_booking: MakeBooking, org: Any) -> None:
    make_booking(reference="CSV-1")
    make_booking(reference="CSV-2", total_amount=100, deposit_paid=100)
    staff = staff_client(org, "viewer", "view@x.test")
    export = staff.get(f"{BOOKINGS}export-csv/")
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    by_ref = {row["reference"]: row for row in rows}
    assert by_ref["CSV-1"]["balance_due"] == "35000000"
    assert by_ref["CSV-1"]["status"] == "partially_paid"
    assert by_ref["CSV-2"]["status"] == "paid"
    dashboard = staff.get(f"{BOOKINGS}dashboard/")
    assert dashboard.status_code == 200
    html = dashboard.content.decode()
    assert "Outstanding booking balances" in html and "350,000.00" in html
    assert 'id="recent-payments"' in html
    home = staff.get("/admin/").content.decode()
    assert "Payment link conversion" in home


def test_reminder_settings_are_validated_and_audited(org: Any) -> None:
    owner = staff_client(org, "owner", "owner@x.test")
    bad = owner.post(
        "/admin/bookings/remindersettings/add/",
        {"organization": org.id, "enabled": "on", "thresholds": "[0]", "send_time": "09:00"},
    )
    assert bad.status_code == 200 and not ReminderSettings.objects.exists()
    good = owner.post(
        "/admin/bookings/remindersettings/add/",
        {"organization": org.id, "enabled": "on", "thresholds": "[3, 10]", "send_time": "08:30"},
    )
    assert good.status_code == 302, good.content.decode()[:2000]
    row = ReminderSettings.objects.get()
    assert row.thresholds == [10, 3] and row.send_time.strftime("%H:%M") == "08:30"
    assert AuditLogEntry.objects.filter(action="reminder_settings.updated").exists()


def test_the_dashboard_counts_in_words_and_links_each_payment(
    make_booking: MakeBooking, org: Any, api: Any, sandbox: Any
) -> None:
    booking = make_booking(reference="ONE-OPEN")
    link = api.post(f"/v1/bookings/{booking['id']}/payment_links").json()
    Client().post(path_of(link["url"]), {"gateway_account": sandbox.id})
    payment = Payment.objects.get(purpose="booking")
    staff = staff_client(org, "viewer", "dash@x.test")
    html = staff.get(f"{BOOKINGS}dashboard/").content.decode()
    assert "1 booking with a balance due" in html and "1 bookings" not in html
    made = PaymentLink.objects.count()
    assert f"0 of {made} link{'' if made == 1 else 's'} paid" in html
    # Each recent payment opens its own admin page, its customer's and its booking's.
    assert f'href="/admin/payments/payment/{payment.id}/change/"' in html
    assert f'href="/admin/customers/customer/{payment.customer_id}/change/"' in html
    assert f'href="/admin/bookings/booking/{booking["id"]}/change/">ONE-OPEN</a>' in html
    assert staff.get(f"/admin/payments/payment/{payment.id}/change/").status_code == 200
    make_booking(reference="TWO-OPEN")
    again = staff.get(f"{BOOKINGS}dashboard/").content.decode()
    assert "2 bookings with a balance due" in again


def test_the_dashboard_is_where_the_docs_say(org: Any) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "bookings.md").read_text()
    (path,) = re.findall(r"Dashboard at `(/admin/[^`]+)`", docs)
    staff = staff_client(org, "viewer", "docs@x.test")
    assert staff.get(path).status_code == 200
    # The admin home's booking cards lead there too.
    assert f'href="{path}"' in staff.get("/admin/").content.decode()
    # So does the button above the bookings list.
    assert f'href="{path}"' in staff.get(BOOKINGS).content.decode()


def test_a_confirmation_for_one_booking_names_it(make_booking: MakeBooking, org: Any) -> None:
    booking = make_booking(reference="NAMED-1")
    finance = staff_client(org, "finance", "named@x.test")
    page = finance.post(
        BOOKINGS, {"action": "cancel_booking", "_selected_action": [booking["id"]]}
    ).content.decode()
    assert 'id="id_reason"' in page  # the confirmation, not the list
    # The header (unfold's breadcrumbs) reads Bookings › Bookings › NAMED-1, linked.
    assert f'href="/admin/bookings/booking/{booking["id"]}/change/"' in page
