"""kassa.platform.fastdb reads and writes rows exactly as the ORM would."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kassa.core.models import ApiKey, IdempotencyRecord, Organization
from kassa.events.models import Event
from kassa.platform import fastdb

pytestmark = [pytest.mark.postgres, pytest.mark.fastpath, pytest.mark.django_db]


def test_insert_and_get_round_trip_every_kind_of_field(org: Organization) -> None:
    event = Event(
        organization_id=org.id,
        type="payment.created",
        object_id="pay_x",
        data={"object": {"amount": 150000, "nested": [1, "ü", None], "flag": True}},
    )
    fastdb.insert(event)
    assert not event._state.adding
    orm = Event.objects.get(pk=event.pk)
    fast = fastdb.get(Event, "id = %s", [event.pk])
    assert fast is not None
    for field in Event._meta.concrete_fields:
        assert getattr(fast, field.attname) == getattr(orm, field.attname), field.name
    assert fast.data["object"]["nested"] == [1, "ü", None]
    assert fast.created_at.tzinfo is not None


def test_get_answers_none_and_honours_the_condition(org: Organization) -> None:
    assert fastdb.get(Organization, "id = %s", ["org_missing"]) is None
    assert fastdb.get(Organization, "id = %s AND name = %s", [org.id, "other"]) is None
    found = fastdb.get(Organization, "id = %s", [org.id], lock=True)
    assert found is not None and found.name == org.name


def test_an_auto_increment_key_is_read_back_and_conflicts_can_be_skipped(
    org: Organization,
) -> None:
    now = timezone.now()

    def record() -> IdempotencyRecord:
        return IdempotencyRecord(
            organization_id=org.id,
            key="k1",
            fingerprint="f",
            status="in_progress",
            locked_until=now,
            expires_at=now + timedelta(hours=1),
        )

    first = record()
    assert fastdb.insert(first, skip_conflicts=True)
    assert first.pk is not None
    assert IdempotencyRecord.objects.get(pk=first.pk).key == "k1"
    second = record()
    assert not fastdb.insert(second, skip_conflicts=True)  # the unique (organization, key)
    assert second.pk is None
    # No error was raised, so the surrounding (test) transaction is still usable.
    assert IdempotencyRecord.objects.filter(organization=org).count() == 1


def test_update_writes_only_the_named_fields(org: Organization) -> None:
    now = timezone.now()
    record = IdempotencyRecord(
        organization_id=org.id,
        key="k2",
        fingerprint="f",
        status="in_progress",
        locked_until=now,
        expires_at=now + timedelta(hours=1),
    )
    fastdb.insert(record)
    IdempotencyRecord.objects.filter(pk=record.pk).update(fingerprint="changed elsewhere")
    record.status = "complete"
    record.response_body = b"\x00{}"
    record.fingerprint = "not written"
    fastdb.update(record, ["status", "response_body"])
    stored = IdempotencyRecord.objects.get(pk=record.pk)
    assert stored.status == "complete"
    assert bytes(stored.response_body) == b"\x00{}"
    assert stored.fingerprint == "changed elsewhere"


def test_writes_send_the_save_signals_the_orm_would(org: Organization) -> None:
    from django.db.models.signals import post_save, pre_save

    seen: list[tuple[str, bool | None, frozenset[str] | None]] = []

    def before(instance: ApiKey, update_fields: frozenset[str] | None, **kw: object) -> None:
        instance.name = instance.name or "named by pre_save"
        seen.append(("pre", None, update_fields))

    def after(created: bool, update_fields: frozenset[str] | None, **kw: object) -> None:
        seen.append(("post", created, update_fields))

    pre_save.connect(before, sender=ApiKey)
    post_save.connect(after, sender=ApiKey)
    try:
        key = ApiKey(organization=org, mode="test", prefix="sk_test_x", key_hash="h" * 64)
        fastdb.insert(key)
        fastdb.update(key, ["name"])
    finally:
        pre_save.disconnect(before, sender=ApiKey)
        post_save.disconnect(after, sender=ApiKey)
    assert ApiKey.objects.get(pk=key.pk).name == "named by pre_save"
    assert seen == [
        ("pre", None, None),
        ("post", True, None),
        ("pre", None, frozenset({"name"})),
        ("post", False, frozenset({"name"})),
    ]


def test_checkout_tokens_are_what_djangos_signer_makes() -> None:
    from kassa.payments import links

    for payment_id in ("pay_01m8y4a6haejrx5nzq39cfnp2c", "pay_ü", "x"):
        assert links.checkout_token(payment_id) == links._signer().sign(payment_id)
        assert links.payment_id_from_token(links.checkout_token(payment_id)) == payment_id
