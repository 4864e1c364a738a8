"""Reminders with a controllable clock: when they fall due in Asia/Tashkent and in
Europe/Berlin across a DST change, catching up after downtime, never for paid or cancelled
bookings, exactly once per booking and threshold, and what the customer receives."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from kassa.bookings import links, reminders, repository, services
from kassa.bookings.models import Booking, PaymentLink, Reminder
from kassa.bookings.tokens import hash_token
from kassa.core.errors import StateConflict
from kassa.core.models import AuditLogEntry, Organization
from kassa.events.models import Event
from kassa.notifications.models import Notification
from tests.bookings.conftest import Clock, make_customer, system
from tests.conftest import make_org
from tests.mail import SmtpServer, text_and_html

pytestmark = pytest.mark.django_db

UTC = dt.UTC
Tasks = Callable[[], int]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def book(
    org: Organization,
    clock: Clock,
    service_date: str,
    *,
    created: str,
    reference: str = "SAM-1",
    locale: str = "ru",
    email: str = "dilnoza@example.com",
    total: int = 450_000_00,
    deposit: int = 100_000_00,
) -> Booking:
    clock.set(at(created))
    customer = make_customer(org, email=email, locale=locale)
    return services.create_booking(
        org,
        customer_id=customer.id,
        reference=reference,
        service_date=service_date,
        total_amount=total,
        currency=org.default_currency,
        deposit_paid=deposit,
        livemode=False,
    )


def scan_at(clock: Clock, when: str) -> list[tuple[str, int | None, str, str]]:
    clock.set(at(when))
    ids = reminders.scan()
    return [
        (r.booking.reference, r.threshold_days, r.urgency, r.status)
        for r in Reminder.objects.filter(pk__in=ids).select_related("booking").order_by("id")
    ]


def rows(booking: Booking) -> list[tuple[int | None, str]]:
    return list(
        booking.reminders.order_by("threshold_days").values_list("threshold_days", "status")
    )


@pytest.fixture
def tashkent(db: None) -> Organization:
    return make_org("Samarkand Travel", timezone_name="Asia/Tashkent", locale="ru")


@pytest.fixture
def berlin(db: None) -> Organization:
    return make_org("Berlin Reisen", currency="EUR", timezone_name="Europe/Berlin", locale="de")


def test_tashkent_thresholds_fall_due_at_nine_local(tashkent: Organization, clock: Clock) -> None:
    # Tashkent is UTC+5 all year: 09:00 local is 04:00 UTC.
    book(tashkent, clock, "2027-06-20", created="2027-06-01T10:00:00")
    assert scan_at(clock, "2027-06-13T03:59:59") == []
    assert scan_at(clock, "2027-06-13T04:00:00") == [("SAM-1", 7, "friendly", "queued")]
    assert scan_at(clock, "2027-06-13T04:05:00") == []  # once
    assert scan_at(clock, "2027-06-17T03:59:00") == []
    assert scan_at(clock, "2027-06-17T04:00:00") == [("SAM-1", 3, "firm", "queued")]
    assert scan_at(clock, "2027-06-19T04:00:00") == [("SAM-1", 1, "urgent", "queued")]
    assert scan_at(clock, "2027-06-19T23:00:00") == []
    assert Reminder.objects.count() == 3


def test_scans_are_serialized_and_keep_postgresqls_statistics_fresh(
    tashkent: Organization, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a scan first takes the advisory lock that serializes scans and, once it has
    inserted more than ANALYZE_AFTER reminders, refreshes the reminder table's statistics
    (kassa.bookings.repository); SQLite, one writer at a time, needs neither."""
    monkeypatch.setattr(repository, "ANALYZE_AFTER", 0)
    book(tashkent, clock, "2027-06-20", created="2027-06-01T10:00:00", reference="A")
    book(tashkent, clock, "2027-06-20", created="2027-06-01T10:00:00", reference="B")
    clock.set(at("2027-06-13T04:00:00"))
    with CaptureQueriesContext(connection) as captured:
        assert len(reminders.scan()) == 2
    statements = [str(q["sql"]) for q in captured.captured_queries]
    table = Reminder._meta.db_table

    def where(fragment: str) -> list[int]:
        return [n for n, sql in enumerate(statements) if fragment in sql]

    inserts = where(f'INSERT INTO "{table}"')
    assert inserts
    if connection.vendor == "postgresql":
        assert where("pg_advisory_xact_lock")[0] < inserts[0]
        assert where(f'ANALYZE "{table}"')[-1] > inserts[0]
    else:
        assert where("pg_advisory_xact_lock") == [] and where("ANALYZE") == []


def test_berlin_across_the_spring_dst_change(berlin: Organization, clock: Clock) -> None:
    # Clocks go forward on 2027-03-28: 09:00 is 08:00 UTC before, 07:00 UTC after.
    book(berlin, clock, "2027-03-30", created="2027-03-01T10:00:00")
    assert scan_at(clock, "2027-03-23T07:59:59") == []
    assert scan_at(clock, "2027-03-23T08:00:00") == [("SAM-1", 7, "friendly", "queued")]
    assert scan_at(clock, "2027-03-27T07:59:59") == []
    assert scan_at(clock, "2027-03-27T08:00:00") == [("SAM-1", 3, "firm", "queued")]
    assert scan_at(clock, "2027-03-29T06:59:59") == []
    assert scan_at(clock, "2027-03-29T07:00:00") == [("SAM-1", 1, "urgent", "queued")]


def test_berlin_across_the_autumn_dst_change(berlin: Organization, clock: Clock) -> None:
    # Clocks go back on 2026-10-25: 09:00 is 07:00 UTC before, 08:00 UTC after.
    book(berlin, clock, "2026-10-27", created="2026-10-01T10:00:00")
    assert scan_at(clock, "2026-10-20T07:00:00") == [("SAM-1", 7, "friendly", "queued")]
    assert scan_at(clock, "2026-10-24T07:00:00") == [("SAM-1", 3, "firm", "queued")]
    assert scan_at(clock, "2026-10-26T07:59:59") == []
    assert scan_at(clock, "2026-10-26T08:00:00") == [("SAM-1", 1, "urgent", "queued")]


def test_same_instant_different_zones(
    tashkent: Organization, berlin: Organization, clock: Clock
) -> None:
    book(tashkent, clock, "2027-06-20", created="2027-06-01T00:00:00", reference="TAS")
    book(berlin, clock, "2027-06-20", created="2027-06-01T00:00:00", reference="BER")
    # 05:00 UTC: 10:00 in Tashkent (due), 07:00 in Berlin (not yet; 09:00 CEST is 07:00 UTC).
    assert scan_at(clock, "2027-06-13T05:00:00") == [("TAS", 7, "friendly", "queued")]
    assert scan_at(clock, "2027-06-13T06:59:00") == []
    assert scan_at(clock, "2027-06-13T07:00:00") == [("BER", 7, "friendly", "queued")]


def test_downtime_sends_the_most_urgent_missed_one_late(
    tashkent: Organization, clock: Clock
) -> None:
    booking = book(tashkent, clock, "2027-06-20", created="2027-06-01T10:00:00")
    assert scan_at(clock, "2027-06-13T04:00:00") == [("SAM-1", 7, "friendly", "queued")]
    # Down from the 13th until the 19th at noon: the 3-day one was missed, the 1-day one due.
    assert scan_at(clock, "2027-06-19T07:00:00") == [("SAM-1", 1, "urgent", "queued")]
    assert rows(booking) == [(1, "queued"), (3, "skipped"), (7, "queued")]
    assert booking.reminders.get(threshold_days=3).skip_reason.startswith("superseded")


def test_a_missed_reminder_is_sent_late_while_the_date_is_ahead(
    tashkent: Organization, clock: Clock
) -> None:
    book(tashkent, clock, "2027-06-20", created="2027-06-01T10:00:00")
    # Down over the 7-day moment; back on the 15th: sent late, still friendly.
    assert scan_at(clock, "2027-06-15T12:00:00") == [("SAM-1", 7, "friendly", "queued")]


def test_nothing_once_the_service_date_has_come(tashkent: Organization, clock: Clock) -> None:
    booking = book(tashkent, clock, "2027-06-20", created="2027-06-01T10:00:00")
    # Down from before the first reminder until the service day itself (Tashkent time).
    assert scan_at(clock, "2027-06-19T19:30:00") == []  # 00:30 on the 20th in Tashkent
    assert rows(booking) == []


def test_paid_and_cancelled_bookings_get_none(tashkent: Organization, clock: Clock) -> None:
    book(
        tashkent,
        clock,
        "2027-06-20",
        created="2027-06-01T10:00:00",
        reference="PAID",
        total=100,
        deposit=100,
    )
    cancelled = book(tashkent, clock, "2027-06-20", created="2027-06-01T10:00:00", reference="CXL")
    services.cancel_booking(cancelled, actor=system())
    assert scan_at(clock, "2027-06-19T05:00:00") == []
    assert Reminder.objects.count() == 0


def test_a_booking_made_late_gets_only_the_thresholds_still_ahead(
    tashkent: Organization, clock: Clock
) -> None:
    booking = book(tashkent, clock, "2027-06-20", created="2027-06-18T10:00:00")
    assert scan_at(clock, "2027-06-18T11:00:00") == []
    assert scan_at(clock, "2027-06-19T04:00:00") == [("SAM-1", 1, "urgent", "queued")]
    assert rows(booking) == [(1, "queued")]


def test_custom_schedule_and_send_time(tashkent: Organization, clock: Clock) -> None:
    reminders.update_settings(
        tashkent, actor=system(), thresholds=[14, 2], send_time=dt.time(18, 30)
    )
    book(tashkent, clock, "2027-06-20", created="2027-06-01T10:00:00")
    assert scan_at(clock, "2027-06-06T13:29:00") == []
    assert scan_at(clock, "2027-06-06T13:30:00") == [("SAM-1", 14, "friendly", "queued")]
    assert scan_at(clock, "2027-06-13T05:00:00") == []  # 7 is not in this schedule
    assert scan_at(clock, "2027-06-18T13:30:00") == [("SAM-1", 2, "firm", "queued")]
    reminders.update_settings(tashkent, actor=system(), enabled=False)
    assert scan_at(clock, "2027-06-19T13:30:00") == []


def test_paid_in_the_meantime_is_skipped_at_send(
    tashkent: Organization, clock: Clock, tasks: Tasks
) -> None:
    booking = book(
        tashkent, clock, "2027-06-20", created="2027-06-01T10:00:00", total=300, deposit=100
    )
    assert len(scan_at(clock, "2027-06-13T04:00:00")) == 1
    # The rest arrives (a second deposit-like posting through a payment would do the same).
    from kassa.bookings.ledger import booking_account, manual_clearing
    from kassa.ledger import services as ledger

    ledger.post(
        tashkent.id,
        ledger.transfer(
            kind="test_payment",
            idempotency_key="paid-outside",
            source=manual_clearing(booking),
            destination=booking_account(booking),
            amount=200,
        ),
    )
    tasks()
    reminder = booking.reminders.get()
    assert (reminder.status, reminder.skip_reason) == ("skipped", "booking paid")
    assert not Notification.objects.filter(type="booking.reminder").exists()


def test_the_emails_language_urgency_and_working_link(
    tashkent: Organization, clock: Clock, tasks: Tasks, smtp: SmtpServer
) -> None:
    ru = book(tashkent, clock, "2027-06-20", created="2027-06-01T10:00:00", reference="RU-1")
    book(
        tashkent,
        clock,
        "2027-06-20",
        created="2027-06-01T10:00:00",
        reference="DE-1",
        locale="de",
        email="jonas@example.com",
    )
    scan_at(clock, "2027-06-13T04:00:00")
    tasks()
    messages = {m["To"]: m for m in smtp.wait_for(2)}
    de_subject = messages["jonas@example.com"]["Subject"]
    assert de_subject.startswith("Erinnerung: Restbetrag für die Buchung DE-1"), de_subject
    ru_message = messages["dilnoza@example.com"]
    assert ru_message["Subject"].startswith("Напоминание: остаток за бронирование RU-1")
    text, html = text_and_html(ru_message)
    assert 'data-urgency="friendly"' in html and "#2f5bea" in html
    assert "350 000,00" in text.replace("\xa0", " ")
    url = re.search(r"https?://\S+/pay/([A-Za-z0-9_-]{64})", text)
    assert url is not None
    token = url.group(1)
    assert f"/pay/{token}" in html
    # Only the hash is stored, never the token or the URL.
    link = PaymentLink.objects.get(booking=ru)
    assert link.token_hash == hash_token(token)
    assert token not in str(list(PaymentLink.objects.values()))
    assert token not in str(list(Notification.objects.values_list("context", flat=True)))
    page = Client().get(f"/pay/{token}")
    assert page.status_code == 200 and "RU-1" in page.content.decode()
    assert Event.objects.filter(type="reminder.sent").count() == 2

    # The 1-day reminder reuses the active link and is urgent.
    scan_at(clock, "2027-06-19T04:00:00")
    tasks()
    urgent = next(m for m in smtp.wait_for(4)[2:] if m["To"] == "dilnoza@example.com")
    assert urgent["Subject"].startswith("Срочно:")
    text, html = text_and_html(urgent)
    assert 'data-urgency="urgent"' in html and "#b91c1c" in html
    assert f"/pay/{token}" in text
    assert PaymentLink.objects.filter(booking=ru).count() == 1


def test_a_new_link_when_the_active_one_is_gone(
    tashkent: Organization, clock: Clock, tasks: Tasks
) -> None:
    booking = book(tashkent, clock, "2027-06-20", created="2027-06-01T10:00:00")
    scan_at(clock, "2027-06-13T04:00:00")
    tasks()
    first = PaymentLink.objects.get(booking=booking)
    links.invalidate_link(first, actor=system())
    scan_at(clock, "2027-06-17T04:00:00")
    tasks()
    second = booking.reminders.get(threshold_days=3).payment_link
    assert second is not None and second.id != first.id and second.status == "active"


def test_send_now_by_hand(tashkent: Organization, clock: Clock, tasks: Tasks) -> None:
    from kassa.core.actors import Actor

    staff = Actor(type="staff", id="7", label="finance@example.com")
    booking = book(tashkent, clock, "2027-06-20", created="2027-06-01T10:00:00")
    clock.set(at("2027-06-02T08:00:00"))
    reminder = reminders.send_now(booking, actor=staff, reason="customer asked")
    assert (reminder.kind, reminder.status, reminder.urgency) == ("manual", "sent", "friendly")
    entry = AuditLogEntry.objects.get(action="booking.reminder_sent")
    assert entry.actor_label == "finance@example.com" and entry.object_id == booking.id
    # A second one by hand is allowed (no threshold); scheduled ones are still sent.
    reminders.send_now(booking, actor=staff)
    assert scan_at(clock, "2027-06-13T04:00:00") == [("SAM-1", 7, "friendly", "queued")]
    paid = book(
        tashkent,
        clock,
        "2027-06-20",
        created="2027-06-01T10:00:00",
        reference="P",
        total=5,
        deposit=5,
    )
    with pytest.raises(StateConflict):
        reminders.send_now(paid, actor=staff)
    assert not Reminder.objects.filter(booking=paid).exists()


def test_repeated_scans_and_sends_are_exactly_once(
    tashkent: Organization, clock: Clock, tasks: Tasks
) -> None:
    for n in range(5):
        book(tashkent, clock, "2027-06-20", created="2027-06-01T10:00:00", reference=f"B{n}")
    first = scan_at(clock, "2027-06-13T04:00:00")
    assert len(first) == 5
    assert scan_at(clock, "2027-06-13T04:00:00") == []
    tasks()
    for reminder_id in Reminder.objects.values_list("id", flat=True):
        assert reminders.send(reminder_id) == "noop"
    assert Notification.objects.filter(type="booking.reminder").count() == 5


def test_the_scheduler_runs_the_scan_and_catches_up(
    tashkent: Organization, clock: Clock, tasks: Tasks, smtp: SmtpServer
) -> None:
    from kassa.platform.scheduler import tick

    book(tashkent, clock, "2027-06-20", created="2027-06-01T10:00:00")
    clock.set(at("2027-06-15T12:00:00"))  # back after downtime over the 7-day moment
    assert "bookings.scan_reminders" in tick()
    tasks()
    reminder = Reminder.objects.get()
    assert (reminder.threshold_days, reminder.status) == (7, "sent")
    (message,) = smtp.wait_for(1)
    assert "SAM-1" in message["Subject"]
