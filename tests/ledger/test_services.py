from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from kassa.ledger import services as ledger
from kassa.ledger.models import AppendOnlyError, LedgerAccount, LedgerEntry, LedgerTransaction
from kassa.ledger.services import (
    AlreadyReversed,
    InsufficientFunds,
    LedgerIdempotencyConflict,
    LedgerIntegrityError,
    Posting,
    TransferSpec,
)
from tests.conftest import make_org
from tests.ledger.helpers import assert_ledger_balanced

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(org):  # type: ignore[no-untyped-def]
    source = ledger.get_or_create_account(org.id, kind="external", currency="UZS")
    wallet = ledger.get_or_create_account(
        org.id, kind="wallet", currency="UZS", owner_id="wal_1", min_balance=0
    )
    revenue = ledger.get_or_create_account(org.id, kind="revenue", currency="UZS")
    return org, source, wallet, revenue


def test_transfer_moves_balances_and_records_balance_after(accounts) -> None:  # type: ignore[no-untyped-def]
    org, source, wallet, revenue = accounts
    posted = ledger.post(
        org.id,
        ledger.transfer(
            kind="topup",
            idempotency_key="t1",
            source=source,
            destination=wallet,
            amount=1000,
            reference="pay_1",
        ),
    )
    assert not posted.replayed
    ledger.post(
        org.id,
        ledger.transfer(
            kind="charge", idempotency_key="c1", source=wallet, destination=revenue, amount=300
        ),
    )
    assert ledger.balance_of(wallet.pk) == 700
    assert ledger.balance_of(source.pk) == -1000
    assert ledger.balance_of(revenue.pk) == 300
    entries = list(
        LedgerEntry.objects.filter(account=wallet)
        .order_by("id")
        .values_list("amount", "balance_after")
    )
    assert entries == [(1000, 1000), (-300, 700)]
    assert LedgerTransaction.objects.get(pk=posted.transaction_id).reference == "pay_1"
    assert_ledger_balanced(org.id)


def test_insufficient_funds_changes_nothing(accounts) -> None:  # type: ignore[no-untyped-def]
    org, source, wallet, revenue = accounts
    ledger.post(
        org.id,
        ledger.transfer(
            kind="topup", idempotency_key="t1", source=source, destination=wallet, amount=100
        ),
    )
    with pytest.raises(InsufficientFunds) as info:
        ledger.post(
            org.id,
            ledger.transfer(
                kind="charge", idempotency_key="c1", source=wallet, destination=revenue, amount=101
            ),
        )
    assert info.value.status == 402 and info.value.code == "insufficient_funds"
    assert ledger.balance_of(wallet.pk) == 100
    assert not LedgerTransaction.objects.filter(idempotency_key="c1").exists()
    # The refused key is free: a smaller charge with it posts.
    ledger.post(
        org.id,
        ledger.transfer(
            kind="charge", idempotency_key="c1", source=wallet, destination=revenue, amount=100
        ),
    )
    assert ledger.balance_of(wallet.pk) == 0


def test_credit_limit_via_min_balance(accounts) -> None:  # type: ignore[no-untyped-def]
    org, _source, wallet, revenue = accounts
    ledger.set_min_balance(wallet, -500)
    ledger.post(
        org.id,
        ledger.transfer(
            kind="charge", idempotency_key="c1", source=wallet, destination=revenue, amount=500
        ),
    )
    with pytest.raises(InsufficientFunds):
        ledger.post(
            org.id,
            ledger.transfer(
                kind="charge", idempotency_key="c2", source=wallet, destination=revenue, amount=1
            ),
        )
    from kassa.core.errors import StateConflict

    with pytest.raises(StateConflict):
        ledger.set_min_balance(wallet, 0)


def test_repeated_key_posts_once(accounts) -> None:  # type: ignore[no-untyped-def]
    org, source, wallet, _ = accounts
    spec = ledger.transfer(
        kind="topup", idempotency_key="same", source=source, destination=wallet, amount=250
    )
    first = ledger.post(org.id, spec)
    second = ledger.post(org.id, spec)
    assert second.replayed and second.transaction_id == first.transaction_id
    assert ledger.balance_of(wallet.pk) == 250
    with pytest.raises(LedgerIdempotencyConflict):
        ledger.post(
            org.id,
            ledger.transfer(
                kind="topup", idempotency_key="same", source=source, destination=wallet, amount=251
            ),
        )
    assert ledger.balance_of(wallet.pk) == 250


def test_keys_are_scoped_per_organization(accounts) -> None:  # type: ignore[no-untyped-def]
    org, source, wallet, _ = accounts
    other = make_org("Other")
    o_source = ledger.get_or_create_account(other.id, kind="external", currency="UZS")
    o_wallet = ledger.get_or_create_account(
        other.id, kind="wallet", currency="UZS", owner_id="wal_2"
    )
    ledger.post(
        org.id,
        ledger.transfer(kind="t", idempotency_key="k", source=source, destination=wallet, amount=5),
    )
    posted = ledger.post(
        other.id,
        ledger.transfer(
            kind="t", idempotency_key="k", source=o_source, destination=o_wallet, amount=5
        ),
    )
    assert not posted.replayed


def test_refuses_malformed_postings(accounts) -> None:  # type: ignore[no-untyped-def]
    org, source, wallet, _ = accounts
    usd = ledger.get_or_create_account(org.id, kind="external", currency="USD")
    other_org_account = ledger.get_or_create_account(make_org("B").id, kind="x", currency="UZS")
    bad = [
        TransferSpec("t", "k1", (Posting(source.pk, -5), Posting(wallet.pk, 4))),
        TransferSpec("t", "k2", (Posting(source.pk, -5),)),
        TransferSpec("t", "k3", (Posting(source.pk, 0), Posting(wallet.pk, 0))),
        TransferSpec("t", "k4", (Posting(source.pk, -5), Posting(usd.pk, 5))),
        TransferSpec("t", "k5", (Posting(source.pk, -5), Posting(other_org_account.pk, 5))),
        TransferSpec("t", "", (Posting(source.pk, -5), Posting(wallet.pk, 5))),
        TransferSpec("t", "k6", (Posting(source.pk, -5), Posting(999_999, 5))),
    ]
    for spec in bad:
        with pytest.raises(LedgerIntegrityError):
            ledger.post(org.id, spec)
    assert LedgerTransaction.objects.count() == 0
    assert_ledger_balanced()


def test_batch_is_all_or_nothing(accounts) -> None:  # type: ignore[no-untyped-def]
    org, source, wallet, revenue = accounts
    batch = [
        ledger.transfer(
            kind="topup", idempotency_key="b1", source=source, destination=wallet, amount=100
        ),
        ledger.transfer(
            kind="charge", idempotency_key="b2", source=wallet, destination=revenue, amount=60
        ),
        ledger.transfer(
            kind="charge", idempotency_key="b3", source=wallet, destination=revenue, amount=60
        ),
    ]
    with pytest.raises(InsufficientFunds):
        ledger.post_batch(org.id, batch)
    assert LedgerTransaction.objects.count() == 0
    results = ledger.post_batch(org.id, batch[:2])
    assert [r.replayed for r in results] == [False, False]
    # Replaying part of a batch with new items posts only the new ones.
    results = ledger.post_batch(
        org.id,
        [
            batch[0],
            batch[1],
            ledger.transfer(
                kind="charge", idempotency_key="b4", source=wallet, destination=revenue, amount=40
            ),
        ],
    )
    assert [r.replayed for r in results] == [True, True, False]
    assert ledger.balance_of(wallet.pk) == 0
    assert_ledger_balanced(org.id)


def test_reversal_mirrors_once(accounts) -> None:  # type: ignore[no-untyped-def]
    org, source, wallet, revenue = accounts
    ledger.post(
        org.id,
        ledger.transfer(
            kind="topup", idempotency_key="t", source=source, destination=wallet, amount=500
        ),
    )
    charge = ledger.post(
        org.id,
        ledger.transfer(
            kind="charge", idempotency_key="c", source=wallet, destination=revenue, amount=200
        ),
    )
    reversal = ledger.reverse(org.id, charge.transaction_id, idempotency_key="rev-c")
    assert ledger.balance_of(wallet.pk) == 500 and ledger.balance_of(revenue.pk) == 0
    assert (
        LedgerTransaction.objects.get(pk=reversal.transaction_id).reverses_id
        == charge.transaction_id
    )
    assert ledger.reverse(org.id, charge.transaction_id, idempotency_key="rev-c").replayed
    with pytest.raises(AlreadyReversed):
        ledger.reverse(org.id, charge.transaction_id, idempotency_key="rev-c-2")
    assert_ledger_balanced(org.id)


def test_entries_are_append_only(accounts) -> None:  # type: ignore[no-untyped-def]
    org, source, wallet, _ = accounts
    ledger.post(
        org.id,
        ledger.transfer(kind="t", idempotency_key="t", source=source, destination=wallet, amount=5),
    )
    entry = LedgerEntry.objects.first()
    assert entry is not None
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with (
        pytest.raises((IntegrityError, DatabaseError)),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE ledger_entry SET amount = 6")
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        LedgerTransaction.objects.update(description="edited")
    assert LedgerEntry.objects.get(pk=entry.pk).amount == entry.amount


def test_account_creation_is_idempotent(org) -> None:  # type: ignore[no-untyped-def]
    a = ledger.get_or_create_account(org.id, kind="wallet", currency="EUR", owner_id="wal_x")
    b = ledger.get_or_create_account(org.id, kind="wallet", currency="EUR", owner_id="wal_x")
    assert a.pk == b.pk and LedgerAccount.objects.count() == 1


def test_a_posting_reports_each_accounts_balance_and_newest_entry(accounts) -> None:  # type: ignore[no-untyped-def]
    org, source, wallet, revenue = accounts
    first, second = ledger.post_batch(
        org.id,
        [
            ledger.transfer(
                kind="topup", idempotency_key="b1", source=source, destination=wallet, amount=500
            ),
            ledger.transfer(
                kind="charge", idempotency_key="b2", source=wallet, destination=revenue, amount=80
            ),
        ],
    )
    newest = {
        account: LedgerEntry.objects.filter(account_id=account).order_by("-id").first()
        for account in (source.pk, wallet.pk, revenue.pk)
    }
    assert first.balances[source.pk] == (-500, newest[source.pk].pk)
    wallet_first = LedgerEntry.objects.filter(transaction_id=first.transaction_id, account=wallet)
    assert first.balances[wallet.pk] == (500, wallet_first.get().pk)
    assert second.balances[wallet.pk] == (420, newest[wallet.pk].pk)
    assert second.balances[revenue.pk] == (80, newest[revenue.pk].pk)
    replay = ledger.post(
        org.id,
        ledger.transfer(
            kind="topup", idempotency_key="b1", source=source, destination=wallet, amount=500
        ),
    )
    assert replay.replayed and replay.balances == {}


def test_a_refusal_leaves_the_callers_transaction_usable(accounts) -> None:  # type: ignore[no-untyped-def]
    org, source, wallet, revenue = accounts
    with transaction.atomic():
        ledger.post(
            org.id,
            ledger.transfer(
                kind="topup", idempotency_key="t", source=source, destination=wallet, amount=50
            ),
        )
        with pytest.raises(InsufficientFunds):
            ledger.post(
                org.id,
                ledger.transfer(
                    kind="charge",
                    idempotency_key="c",
                    source=wallet,
                    destination=revenue,
                    amount=51,
                ),
            )
        with pytest.raises(LedgerIdempotencyConflict):
            ledger.post(
                org.id,
                ledger.transfer(
                    kind="topup", idempotency_key="t", source=source, destination=wallet, amount=9
                ),
            )
        # No savepoint was rolled back and nothing was written by the refusals: the same
        # transaction goes on and commits what it did.
        ledger.post(
            org.id,
            ledger.transfer(
                kind="charge", idempotency_key="c2", source=wallet, destination=revenue, amount=50
            ),
        )
    assert ledger.balance_of(wallet.pk) == 0
    assert not LedgerTransaction.objects.filter(idempotency_key="c").exists()
    assert_ledger_balanced(org.id)


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["ledger_entry", "ledger_transaction", "ledger_account"])
def test_postgresql_refuses_deleting_ledger_rows(accounts, table) -> None:  # type: ignore[no-untyped-def]
    """The tables carry no foreign keys (docs/ledger.md); a trigger refuses every DELETE."""
    org, source, wallet, _ = accounts
    ledger.post(
        org.id,
        ledger.transfer(kind="t", idempotency_key="t", source=source, destination=wallet, amount=5),
    )
    with (
        pytest.raises(DatabaseError, match="never deleted"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {table}")
    assert LedgerEntry.objects.count() == 2
    assert_ledger_balanced(org.id)
