from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from django.db import close_old_connections

from kassa.ledger import services as ledger
from kassa.ledger.services import InsufficientFunds
from tests.conftest import make_org
from tests.ledger.helpers import assert_ledger_balanced

THREADS = 32
PER_THREAD = 40


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_32_threads_on_hot_accounts() -> None:
    org = make_org("Hot")
    clearing = ledger.get_or_create_account(org.id, kind="clearing", currency="EUR")
    wallets = [
        ledger.get_or_create_account(
            org.id, kind="wallet", owner_id=f"w{i}", currency="EUR", min_balance=0
        )
        for i in range(3)
    ]
    accounts = [clearing, *wallets]
    done: list[tuple[str, int, int, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def work(n: int) -> None:
        rng = random.Random(n)
        try:
            start.wait()
            for i in range(PER_THREAD):
                src, dst = rng.sample(range(len(accounts)), 2)
                amount = rng.randint(1, 50)
                # Pairs of threads share keys, so every key is raced by two posters.
                key = f"{n // 2}-{i}"
                spec = ledger.transfer(
                    kind="t",
                    idempotency_key=key,
                    source=accounts[src],
                    destination=accounts[dst],
                    amount=amount,
                )
                if n % 2:
                    spec = ledger.transfer(
                        kind="t",
                        idempotency_key=key,
                        source=accounts[src],
                        destination=accounts[dst],
                        amount=amount,
                    )
                try:
                    posted = ledger.post(org.id, spec)
                except InsufficientFunds:
                    continue
                except ledger.LedgerIdempotencyConflict:
                    continue  # the twin posted other postings under this key first
                if not posted.replayed:
                    with lock:
                        done.append((key, src, dst, amount))
        except BaseException as exc:  # deadlocks and lost updates surface here
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:3]
    assert all(not t.is_alive() for t in threads)
    keys = Counter(key for key, *_ in done)
    assert all(count == 1 for count in keys.values()), "a key was posted twice"
    expected = [0] * len(accounts)
    for _, src, dst, amount in done:
        expected[src] -= amount
        expected[dst] += amount
    actual = [ledger.balance_of(a.pk) for a in accounts]
    assert actual == expected
    assert all(b >= 0 for b in actual[1:])
    assert len(done) > THREADS  # the run did real work, not only refusals
    assert_ledger_balanced(org.id)
