"""Identical Click calls at the same moment change state once (real threads, real commits)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from kassa.core.services import create_api_key
from kassa.ledger.models import LedgerTransaction
from kassa.payments.gateways.click.models import ClickTransaction
from kassa.payments.models import Payment
from tests.conftest import ApiClient, make_org
from tests.ledger.helpers import assert_ledger_balanced
from tests.payments.gateways.click.client import ClickClient, make_click_account, so_m

pytestmark = pytest.mark.django_db(transaction=True)

AMOUNT = 150000
SOM = so_m(AMOUNT)


def setup() -> tuple[ClickClient, str, str]:
    from kassa.core.actors import Actor

    org = make_org("Concurrent")
    account = make_click_account(org)
    api = ApiClient(create_api_key(org, actor=Actor.system("t")).secret)
    payment = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()
    return ClickClient(account), payment["id"], org.id


def at_once(calls: list[Callable[[Client], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Run each call in its own thread (own connection, own HTTP client), released together."""
    barrier = threading.Barrier(len(calls))
    replies: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[Client], dict[str, Any]]) -> None:
        try:
            client = Client()
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


def test_two_identical_completes_pay_once() -> None:
    click, pay, org_id = setup()
    trans = click.new_trans_id()
    prepare_id = click.prepare(pay, SOM, click_trans_id=trans)["merchant_prepare_id"]
    fields = click.fields(1, pay, SOM, click_trans_id=trans, prepare_id=prepare_id)

    def complete(client: Client) -> dict[str, Any]:
        return ClickClient(click.account, client=client).post("complete", fields)

    replies = at_once([complete, complete])
    assert sorted(r["error"] for r in replies) == [-4, 0]
    assert {r["merchant_confirm_id"] for r in replies} == {prepare_id}
    assert Payment.objects.get(pk=pay).status == "succeeded"
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert_ledger_balanced(org_id)


def test_many_identical_completes_pay_once() -> None:
    click, pay, org_id = setup()
    trans = click.new_trans_id()
    prepare_id = click.prepare(pay, SOM, click_trans_id=trans)["merchant_prepare_id"]
    fields = click.fields(1, pay, SOM, click_trans_id=trans, prepare_id=prepare_id)

    def complete(client: Client) -> dict[str, Any]:
        return ClickClient(click.account, client=client).post("complete", fields)

    replies = at_once([complete] * 8)
    assert Counter(r["error"] for r in replies) == {0: 1, -4: 7}
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert_ledger_balanced(org_id)


def test_two_identical_prepares_make_one_attempt() -> None:
    click, pay, _ = setup()
    fields = click.fields(0, pay, SOM, click_trans_id=click.new_trans_id())

    def prepare(client: Client) -> dict[str, Any]:
        return ClickClient(click.account, client=client).post("prepare", fields)

    replies = at_once([prepare, prepare])
    assert [r["error"] for r in replies] == [0, 0]
    assert replies[0]["merchant_prepare_id"] == replies[1]["merchant_prepare_id"]
    assert ClickTransaction.objects.count() == 1
    assert Payment.objects.get(pk=pay).status == "processing"


def test_two_attempts_for_one_order_reserve_it_once() -> None:
    click, pay, _ = setup()
    first = click.fields(0, pay, SOM, click_trans_id=click.new_trans_id())
    second = click.fields(0, pay, SOM, click_trans_id=click.new_trans_id())
    replies = at_once(
        [
            lambda client: ClickClient(click.account, client=client).post("prepare", first),
            lambda client: ClickClient(click.account, client=client).post("prepare", second),
        ]
    )
    assert sorted(r["error"] for r in replies) == [-7, 0]
    assert ClickTransaction.objects.count() == 1


def test_a_complete_racing_a_cancel_ends_consistent() -> None:
    click, pay, org_id = setup()
    trans = click.new_trans_id()
    prepare_id = click.prepare(pay, SOM, click_trans_id=trans)["merchant_prepare_id"]
    paid = click.fields(1, pay, SOM, click_trans_id=trans, prepare_id=prepare_id)
    cancel = click.fields(1, pay, SOM, click_trans_id=trans, prepare_id=prepare_id, error=-5017)
    replies = at_once(
        [
            lambda client: ClickClient(click.account, client=client).post("complete", paid),
            lambda client: ClickClient(click.account, client=client).post("complete", cancel),
        ]
    )
    errors = sorted(r["error"] for r in replies)
    attempt = ClickTransaction.objects.get(click_trans_id=trans)
    payment = Payment.objects.get(pk=pay)
    if errors == [-9, 0]:  # the debit won; the cancel came too late to undo it
        assert attempt.status == "confirmed" and payment.status == "succeeded"
        assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    else:  # the cancel won; the success for a cancelled attempt is refused
        assert errors == [-9, -9]
        assert attempt.status == "cancelled" and payment.status == "requires_action"
        assert not LedgerTransaction.objects.filter(reference=pay).exists()
    assert_ledger_balanced(org_id)
