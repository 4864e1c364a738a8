"""The bookings API: creation with a deposit in the ledger, derived amounts and status,
filters, cancellation, payment links, validation and tenant isolation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from kassa.bookings import clock
from kassa.bookings.models import Booking, PaymentLink
from kassa.events.models import Event
from kassa.ledger import services as ledger
from kassa.ledger.models import LedgerAccount
from tests.bookings.conftest import future, make_customer
from tests.conftest import ApiClient, make_org
from tests.ledger.helpers import assert_ledger_balanced

pytestmark = pytest.mark.django_db

MakeBooking = Callable[..., dict[str, Any]]


def test_create_records_the_deposit_in_the_ledger(
    api: ApiClient, make_booking: MakeBooking, org: Any
) -> None:
    booking = make_booking(total_amount=450_000_00, deposit_paid=100_000_00)
    assert booking["id"].startswith("bk_")
    assert booking["status"] == "partially_paid"
    assert booking["paid_amount"] == 100_000_00
    assert booking["balance_due"] == 350_000_00
    assert booking["deposit_paid"] == 100_000_00
    account = LedgerAccount.objects.get(
        organization_id=org.id, kind="booking", owner_id=booking["id"]
    )
    assert account.balance == 100_000_00
    manual = LedgerAccount.objects.get(
        organization_id=org.id, kind="gateway_clearing", owner_id="manual"
    )
    assert ledger.balance_of(manual.pk) == -100_000_00
    assert_ledger_balanced(org.id)
    assert api.get(f"/v1/bookings/{booking['id']}").json() == booking
    assert list(Event.objects.filter(object_id=booking["id"]).values_list("type", flat=True)) == [
        "booking.created"
    ]


def test_status_without_and_with_full_deposit(make_booking: MakeBooking) -> None:
    assert make_booking(deposit_paid=None)["status"] == "unpaid"
    paid = make_booking(total_amount=5000, deposit_paid=5000)
    assert paid["status"] == "paid" and paid["balance_due"] == 0 and paid["paid_at"]
    assert Event.objects.filter(type="booking.paid", object_id=paid["id"]).exists()


@pytest.mark.parametrize(
    ("change", "status", "code", "param"),
    [
        ({"deposit_paid": 500_000_00}, 400, "deposit_exceeds_total", "deposit_paid"),
        ({"total_amount": 0}, 400, "invalid_amount", "total_amount"),
        ({"total_amount": -5}, 400, "invalid_amount", "total_amount"),
        ({"currency": "XXX"}, 400, "invalid_currency", "currency"),
        ({"customer": "cus_nope"}, 404, "resource_missing", "customer"),
        ({"service_date": "2026-13-01"}, 422, "parameter_invalid_date", "service_date"),
        ({"reference": ""}, 422, "parameter_too_short", "reference"),
    ],
)
def test_bad_input_changes_nothing(
    api: ApiClient,
    customer: Any,
    change: dict[str, Any],
    status: int,
    code: str,
    param: str,
) -> None:
    body = {
        "customer": customer.id,
        "reference": "X-1",
        "service_date": future(),
        "total_amount": 450_000_00,
        "currency": "UZS",
        "deposit_paid": 100_000_00,
        **change,
    }
    response = api.post("/v1/bookings", body)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["param"] == param
    assert Booking.objects.count() == 0
    assert LedgerAccount.objects.filter(kind="booking").count() == 0


def test_reference_is_unique_per_organization(
    api: ApiClient, make_booking: MakeBooking, make_api: Any
) -> None:
    make_booking(reference="SAM-1")
    again = api.post(
        "/v1/bookings",
        {
            "customer": Booking.objects.get().customer_id,
            "reference": "SAM-1",
            "service_date": future(),
            "total_amount": 100,
            "currency": "UZS",
        },
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "booking_reference_taken"
    other = make_org("Other Tours")
    other_api = make_api(other)
    other_customer = make_customer(other)
    response = other_api.post(
        "/v1/bookings",
        {
            "customer": other_customer.id,
            "reference": "SAM-1",
            "service_date": future(),
            "total_amount": 100,
            "currency": "UZS",
        },
    )
    assert response.status_code == 200


def test_idempotency_key_replays_creation(api: ApiClient, customer: Any) -> None:
    body = {
        "customer": customer.id,
        "reference": "IDEM-1",
        "service_date": future(),
        "total_amount": 1000,
        "currency": "UZS",
        "deposit_paid": 100,
    }
    first = api.post("/v1/bookings", body, idempotency_key="k1")
    second = api.post("/v1/bookings", body, idempotency_key="k1")
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json() == second.json()
    assert Booking.objects.count() == 1
    assert LedgerAccount.objects.get(kind="booking").balance == 100


def test_list_filters(api: ApiClient, make_booking: MakeBooking, customer: Any, org: Any) -> None:
    today = clock.local_today(org.timezone)
    soon = make_booking(service_date=(today + timedelta(days=2)).isoformat())
    later = make_booking(service_date=(today + timedelta(days=40)).isoformat())
    late = make_booking(service_date=(today - timedelta(days=1)).isoformat())
    paid = make_booking(total_amount=100, deposit_paid=100)
    cancelled = make_booking()
    api.post(f"/v1/bookings/{cancelled['id']}/cancel", {"reason": "client asked"})

    def ids(**params: Any) -> set[str]:
        response = api.get("/v1/bookings", **params)
        assert response.status_code == 200, response.content
        return {b["id"] for b in response.json()["data"]}

    assert ids(status="paid") == {paid["id"]}
    assert ids(status="cancelled") == {cancelled["id"]}
    assert ids(status="partially_paid") == {soon["id"], later["id"], late["id"]}
    assert ids(due_within_days=7) == {soon["id"]}
    assert ids(overdue="true") == {late["id"]}
    assert ids(customer=customer.id) == {
        soon["id"],
        later["id"],
        late["id"],
        paid["id"],
        cancelled["id"],
    }
    page = api.get("/v1/bookings", limit=2).json()
    assert len(page["data"]) == 2 and page["has_more"]
    rest = api.get("/v1/bookings", limit=10, starting_after=page["data"][-1]["id"]).json()
    assert len(rest["data"]) == 3


def test_cancel_invalidates_links_and_emits(api: ApiClient, make_booking: MakeBooking) -> None:
    booking = make_booking()
    link = api.post(f"/v1/bookings/{booking['id']}/payment_links").json()
    assert link["status"] == "active"
    cancelled = api.post(f"/v1/bookings/{booking['id']}/cancel", {"reason": "weather"})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert api.get(f"/v1/payment_links/{link['id']}").json()["status"] == "invalidated"
    assert Event.objects.filter(type="booking.cancelled", object_id=booking["id"]).exists()
    again = api.post(f"/v1/bookings/{booking['id']}/payment_links")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "booking_cancelled"


def test_payment_links_api(api: ApiClient, make_booking: MakeBooking, org: Any) -> None:
    booking = make_booking(service_date=future(10))
    created = api.post(f"/v1/bookings/{booking['id']}/payment_links")
    assert created.status_code == 200, created.content
    link = created.json()
    assert link["id"].startswith("plink_")
    assert link["amount"] == booking["balance_due"] and link["installment"] is None
    assert link["url"].startswith("http") and len(link["url"].rsplit("/", 1)[1]) == 64
    service_start = clock.start_of_day(dt.date.fromisoformat(booking["service_date"]), org.timezone)
    assert link["expires_at"] == service_start.isoformat().replace("+00:00", "Z")
    assert Event.objects.filter(type="payment_link.created", object_id=link["id"]).exists()

    installment = api.post(
        f"/v1/bookings/{booking['id']}/payment_links", {"amount": 50_000_00}
    ).json()
    assert installment["amount"] == 50_000_00 and installment["installment"] == 50_000_00
    # Regeneration invalidated the first link.
    first = api.get(f"/v1/payment_links/{link['id']}").json()
    assert first["status"] == "invalidated" and first["url"] is None
    listed = api.get(f"/v1/bookings/{booking['id']}/payment_links").json()["data"]
    assert [x["id"] for x in listed] == [installment["id"], link["id"]]

    invalidated = api.post(f"/v1/payment_links/{installment['id']}/invalidate").json()
    assert invalidated["status"] == "invalidated"
    assert PaymentLink.objects.filter(status="active").count() == 0


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"amount": 350_000_01}, "amount_exceeds_balance_due", "amount"),
        ({"amount": 0}, "invalid_amount", "amount"),
        ({"expires_at": "2099-01-01T00:00:00Z"}, "invalid_request", "expires_at"),
        ({"expires_at": "2000-01-01T00:00:00Z"}, "invalid_request", "expires_at"),
    ],
)
def test_payment_link_refusals(
    api: ApiClient, make_booking: MakeBooking, body: dict[str, Any], code: str, param: str
) -> None:
    booking = make_booking()
    response = api.post(f"/v1/bookings/{booking['id']}/payment_links", body)
    assert response.status_code == 400, response.content
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (code, param)
    assert PaymentLink.objects.count() == 0


def test_no_link_for_a_paid_booking_or_a_past_date(
    api: ApiClient, make_booking: MakeBooking
) -> None:
    paid = make_booking(total_amount=100, deposit_paid=100)
    response = api.post(f"/v1/bookings/{paid['id']}/payment_links")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "booking_already_paid"
    past = make_booking(service_date=future(-1))
    response = api.post(f"/v1/bookings/{past['id']}/payment_links")
    assert response.json()["error"]["code"] == "service_date_passed"


def test_other_organizations_objects_are_404(
    api: ApiClient, make_booking: MakeBooking, make_api: Any
) -> None:
    booking = make_booking()
    link = api.post(f"/v1/bookings/{booking['id']}/payment_links").json()
    stranger = make_api(make_org("Stranger"))
    for path in (f"/v1/bookings/{booking['id']}", f"/v1/payment_links/{link['id']}"):
        assert stranger.get(path).status_code == 404
    for path in (
        f"/v1/bookings/{booking['id']}/cancel",
        f"/v1/bookings/{booking['id']}/payment_links",
        f"/v1/payment_links/{link['id']}/invalidate",
    ):
        response = stranger.post(path)
        assert response.status_code == 404, path
    assert stranger.get("/v1/bookings").json()["data"] == []
    assert api.get(f"/v1/payment_links/{link['id']}").json()["status"] == "active"
    assert api.get(f"/v1/bookings/{booking['id']}").json()["status"] == "partially_paid"


def test_send_a_reminder_now(api: ApiClient, make_booking: MakeBooking, make_api: Any) -> None:
    booking = make_booking()
    response = api.post(f"/v1/bookings/{booking['id']}/reminders")
    assert response.status_code == 200, response.content
    reminder = response.json()
    assert reminder["id"].startswith("rem_") and reminder["kind"] == "manual"
    assert reminder["status"] == "sent" and reminder["payment_link"].startswith("plink_")
    assert reminder["notification"].startswith("ntf_")
    assert Event.objects.filter(type="reminder.sent", object_id=reminder["id"]).exists()
    paid = make_booking(total_amount=100, deposit_paid=100)
    refused = api.post(f"/v1/bookings/{paid['id']}/reminders")
    assert refused.status_code == 409
    stranger = make_api(make_org("Stranger"))
    assert stranger.post(f"/v1/bookings/{booking['id']}/reminders").status_code == 404
