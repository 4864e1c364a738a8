"""Identical OCTO notifications at the same moment grant value once (real threads, real
commits, PostgreSQL row locks)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from kassa.core.actors import Actor
from kassa.core.services import create_api_key
from kassa.ledger.models import LedgerTransaction
from kassa.payments.gateways.octo.models import OctoPayment
from kassa.payments.models import GatewayEvent, Payment
from tests.conftest import ApiClient, make_org, run_tasks
from tests.ledger.helpers import assert_ledger_balanced
from tests.payments.conftest import Shopper
from tests.payments.gateways.octo.client import OctoNotifier, make_octo_account
from tests.simulators.octo_sim import OctoSimulator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

AMOUNT = 150000


@pytest.fixture
def sim() -> Iterator[OctoSimulator]:
    simulator = OctoSimulator().start()
    yield simulator
    simulator.stop()


def setup(sim: OctoSimulator, **options: Any) -> tuple[OctoNotifier, str, str]:
    org = make_org("Concurrent OCTO")
    account = make_octo_account(org, sim, **options)
    api = ApiClient(create_api_key(org, actor=Actor.system("t")).secret)
    payment = api.post("/v1/payments", {"amount": AMOUNT, "currency": "UZS"}).json()
    Shopper().choose(payment["checkout_url"], account.id)
    return OctoNotifier(account, sim), payment["id"], org.id


def at_once(calls: list[Callable[[Client], Any]]) -> list[Any]:
    """Run each call in its own thread (own connection, own HTTP client), released together."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[Client], Any]) -> None:
        try:
            client = Client()
            barrier.wait()
            result = call(client)
            with lock:
                results.append(result)
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
    assert len(results) == len(calls)
    return results


def test_two_identical_notifications_grant_once(sim: OctoSimulator) -> None:
    notifier, pay, org_id = setup(sim)
    sim.customer_pays(pay)
    body = sim.encode(sim.notification(pay))

    def post(client: Client) -> int:
        return OctoNotifier(notifier.account, sim, client=client).post_raw(body)[0]

    assert at_once([post, post]) == [200, 200]
    assert GatewayEvent.objects.filter(provider="octo").count() == 1
    run_tasks()
    assert Payment.objects.get(pk=pay).status == "succeeded"
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert_ledger_balanced(org_id)


def test_many_retries_with_fresh_hash_keys_grant_once(sim: OctoSimulator) -> None:
    notifier, pay, org_id = setup(sim)
    sim.customer_pays(pay)
    bodies = [sim.encode(sim.notification(pay)) for _ in range(6)]

    def poster(body: bytes) -> Callable[[Client], int]:
        return lambda client: OctoNotifier(notifier.account, sim, client=client).post_raw(body)[0]

    assert at_once([poster(b) for b in bodies]) == [200] * 6
    assert GatewayEvent.objects.filter(provider="octo", verified=True).count() == 1
    run_tasks()
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert_ledger_balanced(org_id)


def test_the_event_task_and_the_reconciliation_racing_grant_once(sim: OctoSimulator) -> None:
    from kassa.payments.tasks import reconcile_payment

    notifier, pay, org_id = setup(sim)
    sim.customer_pays(pay)
    notifier.send(pay)
    event_id = GatewayEvent.objects.get(provider="octo").id

    def process(_: Client) -> str:
        from kassa.payments.inbound import process as process_event

        return process_event(event_id)

    def reconcile(_: Client) -> str:
        return str(reconcile_payment.call(pay))

    at_once([process, reconcile, process])
    assert Payment.objects.get(pk=pay).status == "succeeded"
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert_ledger_balanced(org_id)


def test_two_identical_hold_questions_get_one_decision(sim: OctoSimulator) -> None:
    notifier, pay, org_id = setup(sim, capture="notify")
    sim.customer_pays(pay)
    bodies = [sim.encode(sim.notification(pay, status="waiting_for_capture")) for _ in range(2)]

    def poster(body: bytes) -> Callable[[Client], Any]:
        return lambda client: OctoNotifier(notifier.account, sim, client=client).post_raw(body)

    replies = at_once([poster(b) for b in bodies])
    assert Counter(code for code, _ in replies) == {200: 2}
    assert [answer for _, answer in replies] == [{"accept_status": "capture"}] * 2
    attempt = OctoPayment.objects.get(payment_id=pay)
    assert attempt.accept_answer == "capture" and attempt.capture == "capture_requested"
    assert Payment.objects.get(pk=pay).status == "processing"
    sim.accept(pay, "capture")
    notifier.send(pay)
    run_tasks()
    assert Payment.objects.get(pk=pay).status == "succeeded"
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert_ledger_balanced(org_id)
