"""Identical Payme calls at the same moment change state once (real threads, real commits)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from kassa.core.actors import Actor
from kassa.core.services import create_api_key
from kassa.ledger.models import LedgerTransaction
from kassa.payments.gateways.payme import services as payme_services
from kassa.payments.gateways.payme.models import PaymeTransaction
from kassa.payments.models import Payment, Refund
from tests.conftest import ApiClient, make_org
from tests.ledger.helpers import assert_ledger_balanced
from tests.payments.gateways.payme.client import (
    PaymeClient,
    error_code,
    make_payme_account,
    new_payme_id,
)

pytestmark = pytest.mark.django_db(transaction=True)

AMOUNT = 150000


def setup() -> tuple[PaymeClient, str, str]:
    org = make_org("Concurrent")
    account = make_payme_account(org)
    api = ApiClient(create_api_key(org, actor=Actor.system("t")).secret)
    payment = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()
    # Payme's `time` is real time here: Kassa's clock is not replaced in these threads.
    return PaymeClient(account, clock=payme_services.clock), payment["id"], org.id


def at_once(
    payme: PaymeClient, calls: list[Callable[[PaymeClient], dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Run each call in its own thread (own connection, own HTTP client), released together."""
    barrier = threading.Barrier(len(calls))
    replies: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[PaymeClient], dict[str, Any]]) -> None:
        try:
            client = PaymeClient(payme.account, clock=payme.clock, client=Client())
            barrier.wait()
            reply = call(client)
            with lock:
                replies.append(reply)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's connection, so teardown can drop the DB

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors[:3]
    assert len(replies) == len(calls)
    return replies


def strip_id(reply: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reply.items() if k != "id"}


def test_identical_creates_make_one_transaction() -> None:
    payme, pay, _ = setup()
    payme_id = new_payme_id()
    replies = at_once(payme, [lambda c: c.create(pay, AMOUNT, payme_id=payme_id)] * 4)
    assert all(r.get("result", {}).get("state") == 1 for r in replies), replies
    assert len({str(strip_id(r)) for r in replies}) == 1  # byte-identical answers
    assert PaymeTransaction.objects.count() == 1
    assert Payment.objects.get(pk=pay).status == "processing"


def test_identical_performs_pay_once() -> None:
    payme, pay, org_id = setup()
    payme_id = new_payme_id()
    payme.create(pay, AMOUNT, payme_id=payme_id)
    replies = at_once(payme, [lambda c: c.perform(payme_id)] * 6)
    assert all(r.get("result", {}).get("state") == 2 for r in replies), replies
    assert len({str(strip_id(r)) for r in replies}) == 1
    assert Payment.objects.get(pk=pay).status == "succeeded"
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert_ledger_balanced(org_id)


def test_two_transactions_for_one_order_reserve_it_once() -> None:
    payme, pay, _ = setup()
    first, second = new_payme_id(), new_payme_id()
    replies = at_once(
        payme,
        [
            lambda c: c.create(pay, AMOUNT, payme_id=first),
            lambda c: c.create(pay, AMOUNT, payme_id=second),
        ],
    )
    assert sorted(str(error_code(r)) for r in replies) == ["-31051", "None"]
    assert PaymeTransaction.objects.count() == 1


def test_identical_cancels_after_perform_refund_once() -> None:
    payme, pay, org_id = setup()
    payme_id, _, _ = payme.pay(pay, AMOUNT)
    replies = at_once(payme, [lambda c: c.cancel(payme_id, 5)] * 4)
    assert all(r.get("result", {}).get("state") == -2 for r in replies), replies
    assert len({str(strip_id(r)) for r in replies}) == 1
    assert Refund.objects.filter(payment_id=pay).count() == 1
    assert Payment.objects.get(pk=pay).amount_refunded == AMOUNT
    assert_ledger_balanced(org_id)


def test_a_perform_racing_a_cancel_ends_consistent() -> None:
    payme, pay, org_id = setup()
    payme_id = new_payme_id()
    payme.create(pay, AMOUNT, payme_id=payme_id)
    replies = at_once(payme, [lambda c: c.perform(payme_id), lambda c: c.cancel(payme_id, 3)])
    by_method = Counter((r.get("result") or {}).get("state", error_code(r)) for r in replies)
    record = PaymeTransaction.objects.get(payme_id=payme_id)
    payment = Payment.objects.get(pk=pay)
    if record.state == -1:  # the cancel won; the perform found a cancelled transaction
        assert by_method == {-1: 1, -31008: 1}
        assert payment.status == "requires_action"
        assert not LedgerTransaction.objects.filter(reference=pay).exists()
    else:  # the perform won; the cancel refunded it
        assert record.state == -2 and by_method == {2: 1, -2: 1}
        assert payment.amount_refunded == AMOUNT
    assert_ledger_balanced(org_id)
