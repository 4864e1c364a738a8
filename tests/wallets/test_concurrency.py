"""Concurrent charges on PostgreSQL: one hot wallet, duplicate idempotency keys, and the
auto top-up threshold crossed by many charges at once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import close_old_connections, connection

from kassa.core.actors import Actor
from kassa.customers.services import create_customer
from kassa.ledger.models import LedgerEntry, LedgerTransaction
from kassa.wallets import services
from kassa.wallets.models import AutoTopUpAttempt
from kassa.wallets.signals import balance_changed
from tests.conftest import make_org
from tests.ledger.helpers import assert_ledger_balanced
from tests.wallets.test_auto_topup import enable, save_card

THREADS = 64
KEYS = 160
PER_THREAD = 10


def run_threads(count: int, work: Any) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def wrapped(n: int) -> None:
        try:
            start.wait()
            work(n)
        except BaseException as exc:  # lost updates and deadlocks surface here
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=wrapped, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert all(not t.is_alive() for t in threads)
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_64_threads_one_wallet_duplicate_keys() -> None:
    org = make_org("Hot wallet")
    customer = create_customer(org, {"name": "Hot"})
    wallet = services.create_wallet(org, customer_id=customer.id, currency="EUR")
    wallet = services.get_wallet(org, wallet.id)
    initial = 20_000
    services.adjust(wallet, amount=initial, reason="funding", actor=Actor.system("t"))

    def amount_of(key: int) -> int:
        return 50 + (key * 37) % 200  # the demand (~23,000) exceeds the balance

    outcomes: list[tuple[int, str, bool]] = []
    refused: list[int] = []
    announced: list[tuple[int, int]] = []
    lock = threading.Lock()

    def on_change(**kwargs: Any) -> None:
        with lock:
            announced.append((kwargs["sequence"], kwargs["balance"]))

    def work(n: int) -> None:
        mine = services.get_wallet(org, wallet.id)
        for i in range(PER_THREAD):
            # Like a request, each charge hands its connection back to the pool (of 10).
            connection.close()
            # Four threads send every key, at about the same time.
            key = (n // 4 * PER_THREAD + i) % KEYS
            try:
                result = services.charge(
                    mine, amount=amount_of(key), idempotency_key=f"usage-{key}"
                )
            except services.InsufficientFunds:
                with lock:
                    refused.append(key)
                continue
            with lock:
                outcomes.append((key, result["id"], result["replayed"]))

    balance_changed.connect(on_change)
    try:
        errors = run_threads(THREADS, work)
    finally:
        balance_changed.disconnect(on_change)
    assert not errors, errors[:3]

    charged_keys = {key for key, _, replayed in outcomes if not replayed}
    # Each key was charged at most once, and every answer for a key names the same charge.
    by_key: dict[int, set[str]] = {}
    for key, charge_id, _ in outcomes:
        by_key.setdefault(key, set()).add(charge_id)
    assert all(len(ids) == 1 for ids in by_key.values())
    fresh = [key for key, _, replayed in outcomes if not replayed]
    assert len(fresh) == len(set(fresh))
    txns = LedgerTransaction.objects.filter(organization=org, kind="wallet_charge")
    assert txns.count() == len(charged_keys)
    final = services.get_wallet(org, wallet.id).ledger_account.balance
    assert final == initial - sum(amount_of(k) for k in charged_keys)
    assert final >= 0
    entries = LedgerEntry.objects.filter(account_id=wallet.ledger_account_id)
    assert min(entries.values_list("balance_after", flat=True)) >= 0  # never negative
    assert refused  # the balance ran out, and those charges changed nothing
    # Every commit announced its balance, with sequence numbers in commit order.
    ordered = sorted(announced)
    assert len(ordered) == len(charged_keys)
    assert ordered[-1][1] == final
    after_by_entry = dict(entries.values_list("id", "balance_after"))
    assert all(after_by_entry[seq] == balance for seq, balance in ordered)
    assert_ledger_balanced(org.id)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_charges_crossing_at_once_start_one_auto_topup(
    api: Any, org: Any, sandbox: Any, shopper: Any, tasks: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    customer = create_customer(org, {"name": "Meter", "email": "m@example.com"})
    wallet = services.get_wallet(
        org, services.create_wallet(org, customer_id=customer.id, currency="EUR").id
    )
    services.adjust(wallet, amount=9000, reason="funding", actor=Actor.system("t"))
    method = save_card(api, wallet, sandbox, shopper, tasks, "4242 4242 4242 4242")
    enable(api, wallet, method, threshold=5000, amount=10_000)
    before = DBTaskResult.objects.filter(task_path__endswith="start_auto_topup").count()

    def work(n: int) -> None:
        services.charge(services.get_wallet(org, wallet.id), amount=200)
        connection.close()

    assert not run_threads(32, work)  # 10,000 - 6,400 = 3,600: crossed once
    started = DBTaskResult.objects.filter(task_path__endswith="start_auto_topup").count()
    assert started - before == 1
    tasks()
    assert AutoTopUpAttempt.objects.filter(wallet=wallet).count() == 1
    assert services.get_wallet(org, wallet.id).ledger_account.balance == 3600 + 10_000
    assert_ledger_balanced(org.id)
