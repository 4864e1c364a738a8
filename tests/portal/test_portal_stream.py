"""The portal's live balance stream: the signed-in customer's own wallets only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.wallets import services
from tests.asgi_server import ServerThread, asgi_server_fixture  # noqa: F401
from tests.portal.conftest import make_customer
from tests.wallets.sse_client import SseStream

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(client: Client) -> dict[str, str]:
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


def test_the_customer_sees_their_balance_change(
    asgi_server: ServerThread,
    org: Organization,
    customer: Customer,
    sign_in: Callable[[Customer], Client],
) -> None:
    wallet = services.create_wallet(org, customer_id=customer.id, currency="EUR")
    services.adjust(wallet, amount=5_000, reason="opening", actor=Actor.system("t"))
    browser = sign_in(customer)
    url = f"{asgi_server.url}/portal/wallets/{wallet.id}/stream"
    with SseStream(url, session_cookie(browser)) as stream:
        assert stream.status_code == 200
        assert stream.next_event().json["balance"] == 5_000
        services.charge(wallet, amount=1_200, description="minutes")
        assert stream.next_event().json["balance"] == 3_800
    # Signed out: the same cookie no longer opens the stream.
    browser.post("/portal/sign-out")
    with SseStream(url, session_cookie(browser)) as stream:
        assert stream.status_code == 401


def test_only_the_customers_own_wallets(
    asgi_server: ServerThread,
    org: Organization,
    customer: Customer,
    sign_in: Callable[[Customer], Client],
    settings: Any,
) -> None:
    bob = make_customer(org, email="bob@example.com", name="Bob")
    bobs = services.create_wallet(org, customer_id=bob.id, currency="EUR")
    browser = sign_in(customer)
    with SseStream(
        f"{asgi_server.url}/portal/wallets/{bobs.id}/stream", session_cookie(browser)
    ) as stream:
        assert stream.status_code == 404
    with SseStream(f"{asgi_server.url}/portal/wallets/{bobs.id}/stream") as stream:
        assert stream.status_code == 401
    with SseStream(
        f"{asgi_server.url}/portal/wallets/{bobs.id}/stream", {"Cookie": "sessionid=forged"}
    ) as stream:
        assert stream.status_code == 401
