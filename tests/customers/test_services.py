"""Customer writes and their events: one transaction, so an event exists if and only if the
write it reports committed (the transactional outbox)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from django.db import transaction

from kassa.core import publishing
from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.customers.representations import customer_dict
from kassa.customers.services import create_customer, update_customer
from kassa.events.models import Event
from kassa.events.services import emit

# Real commits and rollbacks: the service's transaction is the outermost one.
pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


def events_of(customer_id: str) -> list[tuple[str, dict[str, object]]]:
    return [
        (event.type, event.data)
        for event in Event.objects.filter(object_id=customer_id).order_by("id")
    ]


def test_writes_commit_with_their_events(org: Organization) -> None:
    customer = create_customer(org, {"name": "Ann", "email": "ann@example.com", "locale": "de"})
    created = customer_dict(customer)
    update_customer(customer, {"phone": "+4915123456789", "metadata": {"crm": "7"}})
    updated = customer_dict(Customer.objects.get(pk=customer.pk))
    assert updated["phone"] == "+4915123456789" and updated["metadata"] == {"crm": "7"}
    assert events_of(customer.id) == [
        ("customer.created", {"object": created}),
        ("customer.updated", {"object": updated}),
    ]
    assert Event.objects.get(object_id=customer.id, type="customer.created").organization_id == (
        org.id
    )


def in_a_failing_transaction(write: Callable[[], Customer]) -> str:
    """Run `write` inside a caller's transaction that then fails; return the customer's id."""
    written: list[str] = []
    with contextlib.suppress(Boom), transaction.atomic():
        written.append(write().id)
        raise Boom
    return written[0]


def test_a_rolled_back_write_leaves_no_event(org: Organization) -> None:
    gone = in_a_failing_transaction(lambda: create_customer(org, {"name": "Gone"}))
    assert not Customer.objects.filter(pk=gone).exists()
    assert events_of(gone) == []

    kept = create_customer(org, {"name": "Kept"})
    in_a_failing_transaction(lambda: update_customer(kept, {"name": "Renamed"}))
    assert Customer.objects.get(pk=kept.pk).name == "Kept"
    assert [kind for kind, _ in events_of(kept.id)] == ["customer.created"]


def test_the_event_is_written_inside_the_write_s_transaction(
    org: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The publisher writes the event and then fails: if the event had been written in a
    # transaction of its own (or after the commit), it would survive the failed write.
    seen_inside: list[bool] = []

    def write_then_fail(organization_id: str, event_type: str, obj: dict[str, object]) -> None:
        emit(organization_id, event_type, obj)
        seen_inside.append(Event.objects.filter(object_id=str(obj["id"])).exists())
        raise Boom

    monkeypatch.setattr(publishing, "_publisher", write_then_fail)
    with pytest.raises(Boom):
        create_customer(org, {"name": "Ann"})
    assert seen_inside == [True]
    assert Customer.objects.count() == 0
    assert Event.objects.filter(type="customer.created").count() == 0


def test_without_a_publisher_a_write_raises_and_changes_nothing(
    org: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = create_customer(org, {"name": "Ann"})
    monkeypatch.setattr(publishing, "_publisher", None)
    with pytest.raises(RuntimeError, match="no event publisher is registered"):
        create_customer(org, {"name": "Bob"})
    with pytest.raises(RuntimeError, match="no event publisher is registered"):
        update_customer(customer, {"name": "Renamed"})
    assert list(Customer.objects.values_list("name", flat=True)) == ["Ann"]
    assert [kind for kind, _ in events_of(customer.id)] == ["customer.created"]
