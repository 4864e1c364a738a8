"""Charges of one wallet that arrive together are posted together (kassa.wallets.combining):
one transaction, yet each keeps its own ledger transaction, balance, event, key and refusal.

The test holds the wallet's queue, as a batch being posted would, while charges gather behind
it; they are then posted as one batch."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction

from kassa.core.actors import Actor
from kassa.customers.services import create_customer
from kassa.events.models import Event
from kassa.ledger import services as ledger
from kassa.ledger.models import LedgerEntry, LedgerTransaction
from kassa.wallets import combining, services
from tests.conftest import make_org
from tests.ledger.helpers import assert_ledger_balanced

pytestmark = pytest.mark.django_db(transaction=True)


def _wallet(balance: int) -> Any:
    org = make_org("Combining")
    customer = create_customer(org, {"name": "Hot"})
    wallet = services.create_wallet(org, customer_id=customer.id, currency="EUR")
    wallet = services.get_wallet(org, wallet.id)
    services.adjust(wallet, amount=balance, reason="funding", actor=Actor.system("t"))
    return wallet


def _gathered(wallet: Any, charges: list[tuple[int, str]]) -> list[Any]:
    """Send `charges` (amount, idempotency key) at once while the wallet's queue is held;
    each one's result or exception (anything raised, BaseExceptions included), in order."""
    account = wallet.ledger_account_id
    queue = combining._QUEUES[hash(account) % len(combining._QUEUES)]
    outcomes: list[Any] = [None] * len(charges)

    def send(n: int) -> None:
        amount, key = charges[n]
        try:
            outcomes[n] = services.charge(wallet, amount=amount, idempotency_key=key)
        except BaseException as exc:  # the refusal is the outcome
            outcomes[n] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(charges))]
    with queue.leader:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(queue.waiting.get(account, [])) < len(charges):
            assert time.monotonic() < deadline, "the charges did not gather"
            time.sleep(0.01)
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive(), "a charge never ended"
    return outcomes


def test_charges_that_gather_are_posted_in_one_transaction() -> None:
    wallet = _wallet(1000)
    outcomes = _gathered(wallet, [(10 * (n + 1), f"k{n}") for n in range(5)])
    assert [o["amount"] for o in outcomes] == [10, 20, 30, 40, 50]
    # One after the other in the ledger (in the order they queued), each with the balance it
    # left.
    balance = 1000
    for outcome in sorted(outcomes, key=lambda o: -o["balance_after"]):
        balance -= outcome["amount"]
        assert outcome["balance_after"] == balance
    assert balance == 850
    txns = LedgerTransaction.objects.filter(kind="wallet_charge")
    assert txns.count() == 5
    # One database transaction: one time for all of them.
    assert len(set(txns.values_list("created_at", flat=True))) == 1
    last = LedgerEntry.objects.filter(account_id=wallet.ledger_account_id).order_by("id").last()
    assert last is not None and last.balance_after == 850
    assert Event.objects.filter(type="wallet.charged").count() == 5
    assert services.get_wallet(wallet.organization, wallet.id).ledger_account.balance == 850
    assert_ledger_balanced(wallet.organization_id)


def test_a_batch_past_the_floor_is_posted_charge_by_charge() -> None:
    wallet = _wallet(100)
    outcomes = _gathered(wallet, [(60, "a"), (30, "b"), (30, "c")])
    refused = [o for o in outcomes if isinstance(o, services.InsufficientFunds)]
    charged = [o for o in outcomes if isinstance(o, dict)]
    # Whatever order they were queued in, two fit and one is refused with nothing written.
    assert len(refused) == 1 and len(charged) == 2
    assert sum(o["amount"] for o in charged) in (90, 60)
    balance = services.get_wallet(wallet.organization, wallet.id).ledger_account.balance
    assert balance == 100 - sum(o["amount"] for o in charged)
    assert LedgerTransaction.objects.filter(kind="wallet_charge").count() == 2
    assert Event.objects.filter(type="wallet.charged").count() == 2
    assert_ledger_balanced(wallet.organization_id)


def test_a_key_repeated_in_a_batch_is_charged_once() -> None:
    wallet = _wallet(1000)
    outcomes = _gathered(wallet, [(25, "same"), (25, "same"), (25, "other")])
    assert len({o["id"] for o in outcomes[:2]}) == 1
    assert sorted(o["replayed"] for o in outcomes[:2]) == [False, True]
    assert outcomes[2]["id"] != outcomes[0]["id"] and not outcomes[2]["replayed"]
    assert LedgerTransaction.objects.filter(kind="wallet_charge").count() == 2
    assert services.get_wallet(wallet.organization, wallet.id).ledger_account.balance == 950
    assert Event.objects.filter(type="wallet.charged").count() == 2
    assert_ledger_balanced(wallet.organization_id)


def test_a_charge_in_a_callers_transaction_is_posted_alone() -> None:
    # Another thread's charge waits in the queue; a charge made inside a transaction that is
    # then rolled back must neither carry it nor be carried by it.
    wallet = _wallet(1000)
    account = wallet.ledger_account_id
    queue = combining._QUEUES[hash(account) % len(combining._QUEUES)]
    spec = ledger.transfer(
        kind="wallet_charge",
        idempotency_key=f"{wallet.id}:waiting",
        source=account,
        destination=services.house_account(wallet.organization_id, "wallet_usage", "EUR"),
        amount=7,
        reference="wch_waiting",
    )
    waiting = combining.PendingCharge(
        wallet=wallet, spec=spec, charge_id="wch_waiting", amount=7, description="", metadata={}
    )
    inside: list[dict[str, Any]] = []

    def charge_then_fail() -> None:
        with transaction.atomic():
            inside.append(services.charge(wallet, amount=30, idempotency_key="inside"))
            raise RuntimeError("the caller rolls back")

    queue.waiting[account] = [waiting]
    try:
        with pytest.raises(RuntimeError):
            charge_then_fail()
        assert inside[0]["balance_after"] == 970
        assert not waiting.settled
        assert queue.waiting[account] == [waiting]
    finally:
        queue.waiting.pop(account, None)
    assert LedgerTransaction.objects.filter(kind="wallet_charge").count() == 0
    assert services.get_wallet(wallet.organization, wallet.id).ledger_account.balance == 1000
    assert_ledger_balanced(wallet.organization_id)


def test_a_failing_batch_gives_each_charge_its_own_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    """One charge that cannot be posted (here: its after-posting work fails) fails alone; the
    others of its batch are posted one by one, and every failure is an exception of its own
    (one object raised in several threads at once would share and garble its traceback)."""
    wallet = _wallet(1000)
    real = services.charged

    def charged(charge: Any, posted: Any, now: Any) -> Any:
        if charge.amount == 13:
            raise ValueError(f"cannot post {charge.charge_id}")
        return real(charge, posted, now)

    monkeypatch.setattr(services, "charged", charged)
    outcomes = _gathered(wallet, [(10, "a"), (13, "bad"), (20, "b"), (13, "bad-too")])
    assert [o["amount"] for o in (outcomes[0], outcomes[2])] == [10, 20]
    bad, bad_too = outcomes[1], outcomes[3]
    assert isinstance(bad, ValueError) and isinstance(bad_too, ValueError)
    assert bad is not bad_too and str(bad) != str(bad_too)
    assert services.get_wallet(wallet.organization, wallet.id).ledger_account.balance == 970
    assert LedgerTransaction.objects.filter(kind="wallet_charge").count() == 2
    assert Event.objects.filter(type="wallet.charged").count() == 2
    assert_ledger_balanced(wallet.organization_id)


class Interrupted(BaseException):
    """Anything that is not an Exception (KeyboardInterrupt, SystemExit, an exception raised
    into the thread), arriving while a leader posts its followers' charges."""


def test_a_leader_interrupted_mid_batch_leaves_no_charge_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wallet = _wallet(1000)
    real = ledger.post_batch
    interrupted = threading.Event()

    def post_batch(organization_id: str, specs: Any) -> Any:
        if len(specs) > 1 and not interrupted.is_set():
            interrupted.set()
            raise Interrupted()
        return real(organization_id, specs)

    monkeypatch.setattr(ledger, "post_batch", post_batch)
    outcomes = _gathered(wallet, [(10, "a"), (20, "b"), (30, "c")])
    assert interrupted.is_set()
    # The leader's own charge ends with the interruption; those it had taken from the queue
    # end too, each told to send the charge again (nothing of the batch committed).
    assert sum(isinstance(o, Interrupted) for o in outcomes) == 1
    retry = [o for o in outcomes if isinstance(o, combining.ChargeInterrupted)]
    assert len(retry) == 2 and retry[0] is not retry[1]
    assert all(o.status == 503 for o in retry)
    assert services.get_wallet(wallet.organization, wallet.id).ledger_account.balance == 1000
    # The queue is free: the same charges sent again (same keys) go through.
    again = _gathered(wallet, [(10, "a"), (20, "b"), (30, "c")])
    assert sorted(o["amount"] for o in again) == [10, 20, 30]
    assert services.get_wallet(wallet.organization, wallet.id).ledger_account.balance == 940
    assert_ledger_balanced(wallet.organization_id)
