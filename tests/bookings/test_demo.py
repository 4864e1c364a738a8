"""`kassa demo` makes a payable booking and prints its link, the same on every run."""

from __future__ import annotations

import pytest
from django.test import Client

from kassa.bookings.models import Booking
from kassa.customers.demo import load_demo
from tests.bookings.conftest import path_of

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
