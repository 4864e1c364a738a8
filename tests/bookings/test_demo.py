"""`kassa demo` makes a payable booking and prints its link, the same on every run;
`kassa demo --reset` makes the demo payable again without touching the books."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from kassa.bookings import links
from kassa.bookings.models import Booking
from kassa.bookings.tokens import pay_url
from kassa.core.actors import Actor
from kassa.customers.demo import load_demo
from kassa.ledger.verify import verify
from kassa.payments.models import GatewayAccount, Payment
from tests.bookings.conftest import CARDS, Shopper, path_of
from tests.ledger.helpers import assert_ledger_balanced

pytestmark = pytest.mark.django_db


def test_demo_booking_link_is_payable_and_stable() -> None:
    first = load_demo()["links"]["Pay a booking"]
    second = load_demo()["links"]["Pay a booking"]
    assert first == second
    booking = Booking.objects.get(reference="DEMO-SAMARKAND")
    assert booking.balance_due == 350_000_000 and booking.status == "partially_paid"
    page = Client().get(path_of(first))
    assert page.status_code == 200
    assert "DEMO-SAMARKAND" in page.content.decode()
    assert 'data-provider="sandbox"' in page.content.decode()


def _pay(url: str, account_id: str) -> None:
    """A customer pays the whole balance through the link with the sandbox's success card."""
    shopper = Shopper()
    chosen = shopper.client.post(path_of(url), {"gateway_account": account_id})
    assert chosen.status_code == 302, chosen.content.decode()[:800]
    shopper.pay_card(chosen["Location"], CARDS["success"])


def test_reset_before_paying_gives_a_fresh_link_and_the_old_one_stops_working() -> None:
    first = load_demo()["links"]["Pay a booking"]
    second = load_demo(reset=True)["links"]["Pay a booking"]
    assert second.startswith("http") and second != first
    assert load_demo()["links"]["Pay a booking"] == second
    assert Booking.objects.filter(reference__startswith="DEMO-SAMARKAND").count() == 1
    assert Client().get(path_of(first)).status_code == 410
    assert Client().get(path_of(second)).status_code == 200


def test_demo_pay_reset_pay_again_keeps_the_books(tasks: Callable[[], int]) -> None:
    info = load_demo()
    org_id = info["organization"]["id"]
    account = GatewayAccount.objects.get(organization_id=org_id, provider="sandbox")
    first = info["links"]["Pay a booking"]
    _pay(first, account.id)
    tasks()  # the sandbox's signed event, then the emails
    paid = Booking.objects.get(reference="DEMO-SAMARKAND")
    assert paid.status == "paid"
    # Without --reset the demo says so instead of printing a dead link.
    assert load_demo()["links"]["Pay a booking"] == (
        "DEMO-SAMARKAND is paid; `kassa demo --reset` makes it payable"
    )

    second = load_demo(reset=True)["links"]["Pay a booking"]
    assert second.startswith("http") and second != first
    fresh = Booking.objects.get(reference="DEMO-SAMARKAND-2")
    assert (fresh.status, fresh.balance_due) == ("partially_paid", 350_000_000)
    # The paid booking is history: kept, with its money, nothing reversed or deleted.
    paid = Booking.objects.get(reference="DEMO-SAMARKAND")
    assert (paid.status, paid.paid_amount, paid.cancelled_at) == ("paid", 450_000_000, None)

    _pay(second, account.id)
    tasks()
    fresh = Booking.objects.get(reference="DEMO-SAMARKAND-2")
    assert (fresh.status, fresh.balance_due) == ("paid", 0)
    assert Payment.objects.filter(organization_id=org_id, status="succeeded").count() == 2
    # A third round works the same way.
    load_demo(reset=True)
    assert Booking.objects.get(reference="DEMO-SAMARKAND-3").balance_due == 350_000_000
    assert_ledger_balanced(org_id)
    assert verify() == []


def test_reset_replaces_a_partly_paid_demo_booking_by_cancelling_it(
    tasks: Callable[[], int],
) -> None:
    info = load_demo()
    booking = Booking.objects.get(reference="DEMO-SAMARKAND")
    account = GatewayAccount.objects.get(organization_id=booking.organization_id)
    _link, token = links.create_link(booking, actor=Actor.system("test"), amount=50_000_000)
    _pay(pay_url(token), account.id)
    tasks()
    assert Booking.objects.get(pk=booking.pk).balance_due == 300_000_000

    load_demo(reset=True)
    old = Booking.objects.get(pk=booking.pk)
    assert old.status == "cancelled" and old.paid_amount == 150_000_000
    assert Booking.objects.get(reference="DEMO-SAMARKAND-2").balance_due == 350_000_000
    assert_ledger_balanced(info["organization"]["id"])
