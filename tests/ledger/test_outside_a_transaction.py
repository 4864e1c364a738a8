"""Postings that are their own transaction (no caller's transaction around them): a single
posting is one statement in autocommit, a batch gets a transaction; refusals write nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from kassa.ledger import services as ledger
from kassa.ledger.models import LedgerEntry, LedgerTransaction
from kassa.ledger.services import (
    AlreadyReversed,
    InsufficientFunds,
    LedgerIdempotencyConflict,
    LedgerIntegrityError,
    Posting,
    TransferSpec,
)
from tests.ledger.helpers import assert_ledger_balanced

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def accounts(org: Any) -> Any:
    source = ledger.get_or_create_account(org.id, kind="external", currency="UZS")
    wallet = ledger.get_or_create_account(
        org.id, kind="wallet", currency="UZS", owner_id="w", min_balance=0
    )
    revenue = ledger.get_or_create_account(org.id, kind="revenue", currency="UZS")
    return org, source, wallet, revenue


def _move(key: str, src: Any, dst: Any, amount: int) -> TransferSpec:
    return ledger.transfer(
        kind="t", idempotency_key=key, source=src, destination=dst, amount=amount
    )


def test_single_postings_and_their_refusals(accounts: Any) -> None:
    org, source, wallet, revenue = accounts
    assert not connection.in_atomic_block
    first = ledger.post(org.id, _move("a", source, wallet, 100))
    assert ledger.post(org.id, _move("a", source, wallet, 100)) == ledger.Posted(
        first.transaction_id, "a", True
    )
    with pytest.raises(LedgerIdempotencyConflict):
        ledger.post(org.id, _move("a", source, wallet, 99))
    with pytest.raises(InsufficientFunds) as refused:
        ledger.post(org.id, _move("b", wallet, revenue, 101))
    assert (refused.value.account_id, refused.value.balance, refused.value.required) == (
        wallet.pk,
        100,
        101,
    )
    with pytest.raises(LedgerIntegrityError):
        ledger.post(org.id, TransferSpec("t", "c", (Posting(wallet.pk, -1), Posting(10**9, 1))))
    assert list(LedgerTransaction.objects.values_list("idempotency_key", flat=True)) == ["a"]
    assert ledger.balance_of(wallet.pk) == 100
    assert_ledger_balanced(org.id)


def test_a_refused_batch_writes_nothing_and_a_good_one_all(accounts: Any) -> None:
    org, source, wallet, revenue = accounts
    with pytest.raises(InsufficientFunds):
        ledger.post_batch(
            org.id, [_move("t1", source, wallet, 50), _move("c1", wallet, revenue, 60)]
        )
    assert LedgerTransaction.objects.count() == 0 and LedgerEntry.objects.count() == 0
    posted = ledger.post_batch(
        org.id,
        [_move("t1", source, wallet, 50), _move("c1", wallet, revenue, 30)],
    )
    assert [p.replayed for p in posted] == [False, False]
    assert posted[1].balances[wallet.pk][0] == 20
    # A batch mixing a replay and a conflict changes nothing.
    with pytest.raises(LedgerIdempotencyConflict):
        ledger.post_batch(org.id, [_move("c2", wallet, revenue, 5), _move("t1", source, wallet, 1)])
    assert not LedgerTransaction.objects.filter(idempotency_key="c2").exists()
    assert ledger.balance_of(wallet.pk) == 20
    assert_ledger_balanced(org.id)


def test_a_second_reversal_is_refused(accounts: Any) -> None:
    org, source, wallet, _ = accounts
    posted = ledger.post(org.id, _move("t", source, wallet, 10))
    ledger.reverse(org.id, posted.transaction_id, idempotency_key="r1")
    with pytest.raises(AlreadyReversed):
        ledger.reverse(org.id, posted.transaction_id, idempotency_key="r2")
    assert ledger.balance_of(wallet.pk) == 0
    assert_ledger_balanced(org.id)
