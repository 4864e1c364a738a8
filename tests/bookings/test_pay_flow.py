"""Paying a booking through its link: pay page -> sandbox card -> signed event -> ledger ->
booking updated, link used, events, receipt and paid-in-full emails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from kassa.bookings.errors import AmountExceedsBalanceDue
from kassa.bookings.models import Booking, PaymentLink
from kassa.events.models import Event
from kassa.ledger import services as ledger
from kassa.ledger.models import LedgerAccount
from kassa.notifications.models import Notification
from kassa.payments import refunds
from kassa.payments.models import Payment
from tests.bookings.conftest import CARDS, Shopper, path_of
from tests.conftest import ApiClient
from tests.ledger.helpers import assert_ledger_balanced
from tests.mail import SmtpServer, text_and_html

pytestmark = pytest.mark.django_db

MakeBooking = Callable[..., dict[str, Any]]
Tasks = Callable[[], int]


def pay_through(shopper: Shopper, url: str, account_id: str, card: str = CARDS["success"]) -> str:
    response = shopper.client.post(path_of(url), {"gateway_account": account_id})
    assert response.status_code == 302, response.content.decode()[:800]
    return shopper.pay_card(response["Location"], card)


def test_pay_the_balance_end_to_end(
    api: ApiClient,
    make_booking: MakeBooking,
    sandbox: Any,
    shopper: Shopper,
    tasks: Tasks,
    smtp: SmtpServer,
    org: Any,
) -> None:
    booking = make_booking(total_amount=450_000_00, deposit_paid=100_000_00)
    link = api.post(f"/v1/bookings/{booking['id']}/payment_links").json()
    page = shopper.client.get(path_of(link["url"]) + "?lang=en")
    assert page.status_code == 200
    html = page.content.decode()
    assert "BK-1" in html and 'data-testid="amount"' in html and "350,000.00" in html
    assert f'value="{sandbox.id}"' in html

    returned = pay_through(shopper, link["url"], sandbox.id)
    tasks()  # the provider's signed event, then the emails
    result = shopper.client.get(path_of(returned))
    assert result.status_code == 302 and "/pay/return/" in result["Location"]
    success = shopper.client.get(path_of(result["Location"]) + "&lang=en")
    assert success.status_code == 200
    assert 'data-status="succeeded"' in success.content.decode()
    assert "paid in full" in success.content.decode()

    after = api.get(f"/v1/bookings/{booking['id']}").json()
    assert after["status"] == "paid" and after["balance_due"] == 0
    assert after["paid_amount"] == 450_000_00 and after["paid_at"]
    account = LedgerAccount.objects.get(kind="booking", owner_id=booking["id"])
    assert account.balance == 450_000_00
    clearing = LedgerAccount.objects.get(kind="gateway_clearing", owner_id=sandbox.id)
    assert ledger.balance_of(clearing.pk) == -350_000_00
    assert_ledger_balanced(org.id)

    used = api.get(f"/v1/payment_links/{link['id']}").json()
    assert used["status"] == "used" and used["used_at"] and used["url"] is None
    payment = Payment.objects.get(pk=used["payment"])
    assert (payment.purpose, payment.purpose_id, payment.amount) == (
        "booking",
        booking["id"],
        350_000_00,
    )
    types = list(Event.objects.order_by("id").values_list("type", flat=True))
    assert {"payment.succeeded", "payment_link.used", "booking.paid"} <= set(types)
    assert "booking.partially_paid" not in types

    messages = smtp.wait_for(2)
    subjects = sorted(m["Subject"] for m in messages)
    assert any("BK-1" in s and "350\xa0000,00" in s.replace(" ", "\xa0") for s in subjects), (
        subjects
    )
    assert any("полностью" in s for s in subjects), subjects  # the customer reads Russian
    text, html_part = text_and_html(next(m for m in messages if "полностью" not in m["Subject"]))
    assert payment.id in text and payment.id in html_part

    # The used link shows "already paid", not a second checkout.
    again = shopper.client.get(path_of(link["url"]) + "?lang=en")
    assert again.status_code == 200 and 'data-state="paid"' in again.content.decode()


def test_installments_then_the_rest(
    api: ApiClient,
    make_booking: MakeBooking,
    sandbox: Any,
    shopper: Shopper,
    tasks: Tasks,
    org: Any,
) -> None:
    booking = make_booking(total_amount=300_00, deposit_paid=None)
    first = api.post(f"/v1/bookings/{booking['id']}/payment_links", {"amount": 100_00}).json()
    pay_through(shopper, first["url"], sandbox.id)
    tasks()
    state = api.get(f"/v1/bookings/{booking['id']}").json()
    assert (state["status"], state["paid_amount"], state["balance_due"]) == (
        "partially_paid",
        100_00,
        200_00,
    )
    assert Event.objects.filter(type="booking.partially_paid", object_id=booking["id"]).exists()
    assert Notification.objects.filter(type="booking.receipt").count() == 1
    assert not Notification.objects.filter(type="booking.paid_in_full").exists()

    rest = api.post(f"/v1/bookings/{booking['id']}/payment_links").json()
    assert rest["amount"] == 200_00
    pay_through(shopper, rest["url"], sandbox.id)
    tasks()
    assert api.get(f"/v1/bookings/{booking['id']}").json()["status"] == "paid"
    assert Notification.objects.filter(type="booking.paid_in_full").count() == 1
    assert_ledger_balanced(org.id)


def test_the_link_rereads_the_balance_when_the_customer_pays(
    api: ApiClient, make_booking: MakeBooking, sandbox: Any, shopper: Shopper, tasks: Tasks
) -> None:
    booking = make_booking(total_amount=300_00, deposit_paid=None)
    installment = api.post(f"/v1/bookings/{booking['id']}/payment_links", {"amount": 250_00}).json()
    # Money arrives another way before the customer opens the link: 100 paid by a second
    # link, which replaces the first. The replacement asks for the whole balance.
    other = api.post(f"/v1/bookings/{booking['id']}/payment_links", {"amount": 100_00}).json()
    assert api.get(f"/v1/payment_links/{installment['id']}").json()["status"] == "invalidated"
    pay_through(shopper, other["url"], sandbox.id)
    tasks()
    link = api.post(f"/v1/bookings/{booking['id']}/payment_links", {"amount": 200_00}).json()
    assert link["amount"] == 200_00
    # A refund of the first payment cannot make it pay more than due; but a full payment by
    # another route would: simulate it with a second (unused) link paid first.
    page = shopper.client.get(path_of(link["url"]) + "?lang=en")
    assert "200.00" in page.content.decode()
    pay_through(shopper, link["url"], sandbox.id)
    tasks()
    final = api.get(f"/v1/bookings/{booking['id']}").json()
    assert final["paid_amount"] == 300_00 and final["status"] == "paid"


def test_overpayment_is_refused_before_paying(
    api: ApiClient, make_booking: MakeBooking, sandbox: Any, org: Any
) -> None:
    from kassa.payments import services as payments

    booking = make_booking(total_amount=300_00, deposit_paid=200_00)
    with pytest.raises(AmountExceedsBalanceDue) as caught:
        payments.create_payment(
            org,
            amount=100_01,
            currency="UZS",
            livemode=False,
            purpose="booking",
            purpose_id=booking["id"],
        )
    assert getattr(caught.value, "code", "") == "amount_exceeds_balance_due"
    assert Payment.objects.count() == 0


def test_a_refund_reopens_the_balance(
    api: ApiClient,
    make_booking: MakeBooking,
    sandbox: Any,
    shopper: Shopper,
    tasks: Tasks,
    org: Any,
) -> None:
    from kassa.core.actors import Actor

    booking = make_booking(total_amount=300_00, deposit_paid=100_00)
    link = api.post(f"/v1/bookings/{booking['id']}/payment_links").json()
    pay_through(shopper, link["url"], sandbox.id)
    tasks()
    payment_id = api.get(f"/v1/payment_links/{link['id']}").json()["payment"]
    refunds.create_refund(
        org, payment_id=payment_id, amount=50_00, reason="shorter tour", actor=Actor.system("t")
    )
    tasks()
    state = api.get(f"/v1/bookings/{booking['id']}").json()
    assert (state["status"], state["paid_amount"], state["balance_due"]) == (
        "partially_paid",
        250_00,
        50_00,
    )
    assert LedgerAccount.objects.get(kind="booking", owner_id=booking["id"]).balance == 250_00
    assert_ledger_balanced(org.id)


def test_a_declined_card_leaves_the_link_usable(
    api: ApiClient, make_booking: MakeBooking, sandbox: Any, shopper: Shopper, tasks: Tasks
) -> None:
    booking = make_booking()
    link = api.post(f"/v1/bookings/{booking['id']}/payment_links").json()
    pay_through(shopper, link["url"], sandbox.id, CARDS["declined"])
    tasks()
    assert api.get(f"/v1/payment_links/{link['id']}").json()["status"] == "active"
    assert api.get(f"/v1/bookings/{booking['id']}").json()["paid_amount"] == 100_000_00
    returned = Client().get(
        "/pay/return/"
        + __import__("kassa.bookings.links", fromlist=["return_token"]).return_token(link["id"])
        + "?lang=en"
    )
    assert returned.status_code == 200
    body = returned.content.decode()
    assert "did not go through" in body and 'href="/pay/' in body
    # Paying again through the same link works.
    pay_through(shopper, link["url"], sandbox.id)
    tasks()
    assert api.get(f"/v1/bookings/{booking['id']}").json()["status"] == "paid"
    assert Booking.objects.count() == 1
    assert PaymentLink.objects.get().status == "used"
