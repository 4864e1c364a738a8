"""The pay pages: one page per link state with its status code, the customer's language,
no external assets, and the per-IP rate limit that stops token probing."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from kassa.bookings.models import PaymentLink
from kassa.bookings.tokens import TOKEN_LENGTH
from tests.bookings.conftest import Clock, path_of
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

MakeBooking = Callable[..., dict[str, Any]]


def link_for(api: ApiClient, booking: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = api.post(f"/v1/bookings/{booking['id']}/payment_links", body or None)
    assert response.status_code == 200, response.content
    return dict(response.json())


def state_of(response: Any) -> str:
    match = re.search(r'data-state="([a-z_]+)"', response.content.decode())
    return match.group(1) if match else ""


def test_the_token_is_64_url_safe_characters_and_only_its_hash_is_stored(
    api: ApiClient, make_booking: MakeBooking
) -> None:
    link = link_for(api, make_booking())
    token = link["url"].rsplit("/", 1)[1]
    assert len(token) == TOKEN_LENGTH and re.fullmatch(r"[A-Za-z0-9_-]{64}", token)
    row = PaymentLink.objects.values().get()
    assert token not in str(row) and len(row["token_hash"]) == 64
    other = link_for(api, make_booking())
    assert other["url"] != link["url"]


@pytest.mark.parametrize("lang", ["en", "de", "ru", "uz"])
def test_the_active_page_in_each_language(
    api: ApiClient, make_booking: MakeBooking, sandbox: Any, lang: str
) -> None:
    link = link_for(api, make_booking(reference="SAM-7", description="Samarkand"))
    response = Client().get(path_of(link["url"]), {"lang": lang})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{lang}">' in html
    assert "SAM-7" in html and "Samarkand" in html
    heading = {
        "en": "Pay your booking",
        "de": "Buchung bezahlen",
        "ru": "Оплата бронирования",
        "uz": "Bronni to‘lash",
    }[lang]
    assert heading in html
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    # No external assets: every src and stylesheet is on our own origin.
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not url.startswith(("http:", "https:", "//")), url


def test_the_customers_language_is_the_default(
    api: ApiClient, make_booking: MakeBooking, sandbox: Any
) -> None:
    link = link_for(api, make_booking())  # the customer reads Russian
    html = Client().get(path_of(link["url"])).content.decode()
    assert '<html lang="ru">' in html and "Выберите способ оплаты" in html


def test_unknown_and_malformed_tokens_are_404(db: None) -> None:
    client = Client()
    assert client.get("/pay/" + "A" * 64).status_code == 404
    response = client.get("/pay/short")
    assert response.status_code == 404 and state_of(response) == "unknown"


def test_invalidated_link_is_410(api: ApiClient, make_booking: MakeBooking) -> None:
    booking = make_booking()
    first = link_for(api, booking)
    link_for(api, booking)  # regenerated: the first one is invalidated
    token = PaymentLink.objects.get(pk=first["id"])
    assert token.status == "invalidated"
    # The first link's URL was returned once; it is dead now.
    response = Client().get(path_of(first["url"]))
    assert response.status_code == 410 and state_of(response) == "invalidated"


def test_expired_link_is_410(
    api: ApiClient, make_booking: MakeBooking, clock: Clock, sandbox: Any
) -> None:
    link = link_for(api, make_booking())
    clock.set(dt.datetime.fromisoformat(link["expires_at"].replace("Z", "+00:00")))
    response = Client().get(path_of(link["url"]))
    assert response.status_code == 410 and state_of(response) == "expired"
    assert api.get(f"/v1/payment_links/{link['id']}").json()["status"] == "expired"
    start = Client().post(path_of(link["url"]), {"gateway_account": sandbox.id})
    assert start.status_code == 410


def test_paid_booking_shows_already_paid(api: ApiClient, make_booking: MakeBooking) -> None:
    booking = make_booking(total_amount=1000, deposit_paid=100)
    link = link_for(api, booking)
    # The rest arrives outside the link: the page says so instead of asking again.
    from kassa.bookings.ledger import booking_account, manual_clearing
    from kassa.bookings.models import Booking
    from kassa.ledger import services as ledger

    row = Booking.objects.get(pk=booking["id"])
    ledger.post(
        row.organization_id,
        ledger.transfer(
            kind="test_payment",
            idempotency_key="outside",
            source=manual_clearing(row),
            destination=booking_account(row),
            amount=900,
        ),
    )
    response = Client().get(path_of(link["url"]))
    assert response.status_code == 200 and state_of(response) == "paid"


def test_cancelled_booking_link_is_410(api: ApiClient, make_booking: MakeBooking) -> None:
    booking = make_booking()
    link = link_for(api, booking)
    api.post(f"/v1/bookings/{booking['id']}/cancel")
    assert Client().get(path_of(link["url"])).status_code == 410


def test_token_probing_is_limited_but_never_blocks_a_valid_link(
    settings: Any, api: ApiClient, make_booking: MakeBooking, clock: Clock
) -> None:
    settings.KASSA_PAY_PROBE_LIMIT = 10
    link = link_for(api, make_booking())
    clock.set(dt.datetime(2026, 12, 1, 10, 4, 0, tzinfo=dt.UTC))
    prober = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(10):
        assert prober.get(f"/pay/{'x' * 63}{n}").status_code == 404
    for n in range(5):  # the probes past the limit are refused ...
        blocked = prober.get(f"/pay/{'y' * 63}{n}")
        assert blocked.status_code == 429 and state_of(blocked) == "rate_limited"
    # ... until the ten-minute window ends (10:00-10:10).
    assert blocked["Retry-After"] == "360"
    # The valid link opens from the probing address all the while, and so does its return page.
    page = prober.get(path_of(link["url"]))
    assert page.status_code == 200 and state_of(page) == "active"
    assert prober.post(f"/pay/{'z' * 64}").status_code == 429
    assert prober.get(path_of(link["url"])).status_code == 200
    clock.advance(minutes=6)  # a new window
    assert prober.get(f"/pay/{'x' * 64}").status_code == 404


def test_unknown_return_tokens_count_as_probes(settings: Any, db: None) -> None:
    settings.KASSA_PAY_PROBE_LIMIT = 2
    prober = Client(REMOTE_ADDR="203.0.113.11")
    codes = [prober.get(f"/pay/return/not-a-signed-value-{n}").status_code for n in range(4)]
    assert codes == [404, 404, 429, 429]


def test_requests_per_minute_are_limited(
    settings: Any, api: ApiClient, make_booking: MakeBooking, clock: Clock
) -> None:
    settings.KASSA_PAY_RATE_LIMIT = 3
    link = link_for(api, make_booking())
    client = Client(REMOTE_ADDR="203.0.113.10")
    clock.set(dt.datetime(2026, 12, 1, 10, 0, 5, tzinfo=dt.UTC))
    codes = [client.get(path_of(link["url"])).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    # Unknown tokens are not counted against this limit (they have their own).
    other = Client(REMOTE_ADDR="203.0.113.12")
    for n in range(5):
        assert other.get(f"/pay/{'q' * 63}{n}").status_code == 404
    assert other.get(path_of(link["url"])).status_code == 200
    clock.advance(minutes=1)  # a new window
    assert client.get(path_of(link["url"])).status_code == 200


def test_a_rotated_secret_key_keeps_emailed_links_working(
    api: ApiClient, make_booking: MakeBooking, settings: Any
) -> None:
    from kassa.bookings import links
    from kassa.bookings.models import Booking

    booking = make_booking()
    link = link_for(api, booking)
    settings.SECRET_KEY = "a-completely-different-secret-key-for-this-test-0123456789"
    # The emailed URL still opens (the stored hash is what is looked up) ...
    assert Client().get(path_of(link["url"])).status_code == 200
    # ... but the server can no longer re-make it, so a reminder makes a new link.
    row = PaymentLink.objects.get(pk=link["id"])
    assert links.reusable_token(row) is None
    assert api.get(f"/v1/payment_links/{link['id']}").json()["url"] is None
    locked = Booking.objects.get(pk=booking["id"])
    new, token = links.link_for_reminder(locked)
    assert new.id != row.id and links.reusable_token(new) == token


@pytest.mark.parametrize(
    ("lang", "until"),
    [
        ("de", "15. Januar 2030, 23:30 (Usbekische Normalzeit)"),
        ("ru", "15 января 2030\u202fг., 23:30 (Узбекистан, стандартное время)"),
        ("en", "January 15, 2030"),
    ],
)
def test_the_expiry_is_on_the_organizations_clock(
    api: ApiClient, make_booking: MakeBooking, sandbox: Any, lang: str, until: str
) -> None:
    # 18:30 UTC is 23:30 in Tashkent (the organization's time zone), in the page's language.
    link = link_for(api, make_booking())
    PaymentLink.objects.filter(pk=link["id"]).update(
        expires_at=dt.datetime(2030, 1, 15, 18, 30, tzinfo=dt.UTC)
    )
    html = Client().get(path_of(link["url"]), {"lang": lang}).content.decode()
    expiry = re.search(r'data-testid="expiry">(.*?)</p>', html, re.S)
    assert expiry is not None
    assert until in expiry.group(1)
    assert "UTC" not in expiry.group(1) and "18:30" not in expiry.group(1)
    if lang == "en":
        assert "Uzbekistan Standard Time" in expiry.group(1) and "11:30" in expiry.group(1)


@pytest.mark.parametrize(
    ("lang", "amount"),
    [
        ("en", "UZS\xa0350,000.00"),
        ("de", "350.000,00\xa0UZS"),
        ("ru", "350\xa0000,00\xa0UZS"),
        ("uz", "350\xa0000,00\xa0soʻm"),
    ],
)
def test_the_amount_reads_as_the_language_writes_it(
    api: ApiClient, make_booking: MakeBooking, sandbox: Any, lang: str, amount: str
) -> None:
    link = link_for(api, make_booking())
    html = Client().get(path_of(link["url"]), {"lang": lang}).content.decode()
    shown = re.search(r'data-testid="amount">([^<]*)<', html)
    assert shown is not None and shown.group(1) == amount
