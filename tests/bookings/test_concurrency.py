"""Concurrency with real threads and commits: two workers scanning and sending reminders at
the same moment (PostgreSQL), and concurrent attempts to pay through one link."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from django_tasks_db.models import DBTaskResult

from kassa.bookings import reminders, services
from kassa.bookings.models import PaymentLink, Reminder
from kassa.core.actors import Actor
from kassa.core.services import create_api_key
from kassa.notifications.models import Notification
from kassa.payments.accounts import create_gateway_account
from kassa.payments.models import Payment
from tests.bookings.conftest import CARDS, Clock, Shopper, make_customer, path_of
from tests.conftest import ApiClient, make_org, run_tasks
from tests.ledger.helpers import assert_ledger_balanced

pytestmark = pytest.mark.django_db(transaction=True)


def at_once[T](calls: list[Callable[[], T]]) -> list[T]:
    """Run each call in its own thread (own connection), released together."""
    barrier = threading.Barrier(len(calls))
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[], T]) -> None:
        try:
            barrier.wait()
            value = call()
            with lock:
                results.append(value)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:3]
    assert len(results) == len(calls)
    return results


def _bookings(count: int, clock: Clock) -> Any:
    org = make_org("Concurrent Tours", timezone_name="Asia/Tashkent")
    clock.set(dt.datetime(2027, 6, 1, 10, tzinfo=dt.UTC))
    for n in range(count):
        customer = make_customer(org, email=f"c{n}@example.com")
        services.create_booking(
            org,
            customer_id=customer.id,
            reference=f"C-{n}",
            service_date="2027-06-20",
            total_amount=1000,
            currency="UZS",
            livemode=False,
        )
    return org


@pytest.mark.postgres
def test_two_workers_scanning_at_once_enqueue_each_reminder_once(clock: Clock) -> None:
    _bookings(40, clock)
    clock.set(dt.datetime(2027, 6, 13, 4, tzinfo=dt.UTC))
    found = at_once([reminders.scan, reminders.scan])
    everything = [pk for ids in found for pk in ids]
    assert len(everything) == 40 and len(set(everything)) == 40
    assert Reminder.objects.count() == 40
    enqueued = Counter(
        pk
        for args in DBTaskResult.objects.filter(task_path__endswith="send_reminders").values_list(
            "args_kwargs", flat=True
        )
        for pk in args["args"][0]
    )
    assert set(enqueued) == set(everything) and set(enqueued.values()) == {1}


@pytest.mark.postgres
def test_two_workers_sending_at_once_send_each_once(clock: Clock) -> None:
    _bookings(20, clock)
    clock.set(dt.datetime(2027, 6, 13, 4, tzinfo=dt.UTC))
    ids = reminders.scan()

    def send_all() -> Counter[str]:
        return Counter(reminders.send(pk) for pk in ids)

    outcomes = at_once([send_all, send_all])
    total = outcomes[0] + outcomes[1]
    assert total == Counter({"sent": 20, "noop": 20})
    assert Notification.objects.filter(type="booking.reminder").count() == 20
    # Each booking has exactly one active link, made once.
    assert PaymentLink.objects.count() == 20


def test_concurrent_attempts_through_one_link_pay_once() -> None:
    org = make_org("One Link Tours")
    account = create_gateway_account(
        org,
        provider="sandbox",
        test_mode=True,
        credentials={},
        currencies=["UZS"],
        is_default=True,
        actor=Actor.system("test"),
    )
    api = ApiClient(create_api_key(org, actor=Actor.system("test")).secret)
    customer = make_customer(org)
    booking = api.post(
        "/v1/bookings",
        {
            "customer": customer.id,
            "reference": "ONE",
            "service_date": (dt.datetime.now(tz=dt.UTC).date() + dt.timedelta(days=20)).isoformat(),
            "total_amount": 900_00,
            "currency": "UZS",
            "deposit_paid": 300_00,
        },
    ).json()
    link = api.post(f"/v1/bookings/{booking['id']}/payment_links").json()

    def start() -> str:
        response = Client().post(path_of(link["url"]), {"gateway_account": account.id})
        assert response.status_code == 302, response.content.decode()[:500]
        return str(response["Location"])

    redirects = at_once([start, start, start])
    assert Payment.objects.count() == 1  # every attempt continues the same payment
    assert len(set(redirects)) >= 1

    # Two customers' tabs pay the same checkout at once: one charge succeeds.
    def pay(location: str) -> Callable[[], str]:
        def run() -> str:
            shopper = Shopper()
            try:
                return shopper.pay_card(location, CARDS["success"])
            except AssertionError:
                return "refused"

        return run

    at_once([pay(redirects[0]), pay(redirects[-1])])
    run_tasks()
    state = api.get(f"/v1/bookings/{booking['id']}").json()
    assert state["paid_amount"] == 900_00 and state["status"] == "paid"
    assert Payment.objects.filter(status="succeeded").count() == 1
    assert api.get(f"/v1/payment_links/{link['id']}").json()["status"] == "used"
    # Afterwards the link cannot start another payment.
    after = Client().post(path_of(link["url"]), {"gateway_account": account.id})
    assert after.status_code == 200 and 'data-state="paid"' in after.content.decode()
    assert Payment.objects.count() == 1
    assert_ledger_balanced(org.id)
