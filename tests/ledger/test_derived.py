"""Accounts whose balance is derived from their entries (house accounts): postings neither lock
nor update them, their entries record no balance, their balance is the sum of their entries."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import close_old_connections, connection, transaction

from kassa.core.errors import StateConflict
from kassa.ledger import services as ledger
from kassa.ledger.models import LedgerAccount, LedgerEntry
from kassa.ledger.services import LedgerIntegrityError
from kassa.ledger.verify import verify
from tests.conftest import make_org
from tests.ledger.helpers import assert_ledger_balanced


def _accounts(org: Any) -> tuple[int, int, int]:
    house = ledger.account_id(org.id, kind="wallet_usage", currency="EUR", derived=True)
    clearing = ledger.account_id(org.id, kind="gateway_clearing", currency="EUR", derived=True)
    wallet = ledger.account_id(org.id, kind="wallet", owner_id="w", currency="EUR", min_balance=0)
    return house, clearing, wallet


@pytest.mark.django_db(transaction=True)
def test_a_derived_balance_is_the_sum_of_the_entries() -> None:
    org = make_org()
    house, clearing, wallet = _accounts(org)
    ledger.post(
        org.id,
        ledger.transfer(
            kind="t", idempotency_key="in", source=clearing, destination=wallet, amount=500
        ),
    )
    posted = ledger.post_batch(
        org.id,
        [
            ledger.transfer(
                kind="t", idempotency_key=f"use-{n}", source=wallet, destination=house, amount=20
            )
            for n in range(3)
        ],
    )
    # Only the cached account reports a balance; entries on derived ones record none.
    assert [sorted(p.balances) for p in posted] == [[wallet]] * 3
    assert ledger.balance_of(house) == 60 and ledger.balance_of(clearing) == -500
    assert ledger.balance_of(wallet) == 440
    assert LedgerAccount.objects.get(pk=house).balance == 0
    assert set(
        LedgerEntry.objects.filter(account_id__in=[house, clearing]).values_list(
            "balance_after", flat=True
        )
    ) == {None}
    assert list(
        LedgerEntry.objects.filter(account_id=wallet)
        .order_by("id")
        .values_list("balance_after", flat=True)
    ) == [500, 480, 460, 440]
    assert verify() == []
    assert_ledger_balanced(org.id)
    # A cached balance on a derived account is a corruption verify reports.
    LedgerAccount.objects.filter(pk=house).update(balance=7)
    assert [p.kind for p in verify()] == ["account_balance"]


@pytest.mark.django_db(transaction=True)
def test_a_derived_account_has_no_floor() -> None:
    org = make_org()
    house, _, _ = _accounts(org)
    with pytest.raises(LedgerIntegrityError):
        ledger.get_or_create_account(
            org.id, kind="other_house", currency="EUR", derived=True, min_balance=0
        )
    with pytest.raises(StateConflict):
        ledger.set_min_balance(LedgerAccount.objects.get(pk=house), 0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postings_do_not_wait_on_a_derived_account() -> None:
    """Another transaction holds the house account's row: postings to it still go through
    (they never lock it), while one to a held cached account waits."""
    org = make_org()
    house, clearing, wallet = _accounts(org)
    held = threading.Event()
    release = threading.Event()

    def hold(account: int) -> None:
        try:
            with transaction.atomic():
                LedgerAccount.objects.select_for_update().get(pk=account)
                held.set()
                release.wait(10)
        finally:
            close_old_connections()

    holder = threading.Thread(target=hold, args=(house,))
    holder.start()
    assert held.wait(10)
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '2s'")
    try:
        ledger.post(
            org.id,
            ledger.transfer(
                kind="t", idempotency_key="a", source=clearing, destination=house, amount=5
            ),
        )
    finally:
        release.set()
        holder.join()
    held.clear()
    release.clear()
    holder = threading.Thread(target=hold, args=(wallet,))
    holder.start()
    assert held.wait(10)
    try:
        with pytest.raises(Exception, match="lock timeout"):
            ledger.post(
                org.id,
                ledger.transfer(
                    kind="t", idempotency_key="b", source=clearing, destination=wallet, amount=5
                ),
            )
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert ledger.balance_of(house) == 5
    assert_ledger_balanced(org.id)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_postings_through_one_house_account_are_exact() -> None:
    org = make_org()
    house = ledger.account_id(org.id, kind="wallet_usage", currency="EUR", derived=True)
    clearing = ledger.account_id(org.id, kind="gateway_clearing", currency="EUR", derived=True)
    wallets = [
        ledger.account_id(org.id, kind="wallet", owner_id=f"w{n}", currency="EUR", min_balance=0)
        for n in range(16)
    ]
    for n, wallet in enumerate(wallets):
        ledger.post(
            org.id,
            ledger.transfer(
                kind="t",
                idempotency_key=f"fund-{n}",
                source=clearing,
                destination=wallet,
                amount=100,
            ),
        )
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def charge(n: int) -> None:
        try:
            barrier.wait()
            for i in range(25):
                ledger.post(
                    org.id,
                    ledger.transfer(
                        kind="t",
                        idempotency_key=f"c-{n}-{i}",
                        source=wallets[n],
                        destination=house,
                        amount=4,
                    ),
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=charge, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert ledger.balance_of(house) == 16 * 25 * 4
    assert all(ledger.balance_of(w) == 0 for w in wallets)
    assert verify() == []
    assert_ledger_balanced(org.id)
