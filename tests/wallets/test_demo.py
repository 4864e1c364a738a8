"""`kassa demo` points a person at the portal with a customer who has a wallet."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from kassa.customers.demo import load_demo
from kassa.wallets.models import Wallet

pytestmark = pytest.mark.django_db


def test_demo_prints_a_portal_sign_in_for_a_customer_with_a_wallet(client: Client) -> None:
    line = load_demo()["links"]["Portal"]
    url, _, rest = line.partition(" ")
    email = rest.split()[1]
    assert Wallet.objects.filter(customer__email=email).exists()
    page = client.get(urlsplit(url).path)
    assert page.status_code == 200
    assert b"email" in page.content.lower()
