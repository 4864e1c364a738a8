"""The inbound event path: signatures, duplicates, concurrency, ordering, late payments."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from django.db import close_old_connections
from django.test import Client

from kassa.ledger.models import LedgerTransaction
from kassa.payments import inbound
from kassa.payments.gateways.sandbox import provider as sandbox_provider
from kassa.payments.models import GatewayEvent, Payment
from tests.ledger.helpers import assert_ledger_balanced

pytestmark = pytest.mark.django_db


def event_body(
    payment: dict[str, Any], kind: str = "succeeded", event_id: str = "evt_sbx_1", **data: Any
) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": f"charge.{kind}",
            "created": int(time.time()),
            "data": {
                "charge": "ch_sbx_1",
                "payment_id": payment["id"],
                "amount": payment["amount"],
                "currency": payment["currency"],
                **data,
            },
        }
    ).encode()


def post_event(client: Client, account: Any, body: bytes, signature: str | None) -> Any:
    headers = {} if signature is None else {"Kassa-Sandbox-Signature": signature}
    return client.post(
        f"/hooks/sandbox/{account.id}", body, content_type="application/json", headers=headers
    )


@pytest.fixture
def payment(api: Any, sandbox: Any) -> dict[str, Any]:
    return api.post("/v1/payments", {"amount": 7000, "currency": "EUR"}).json()


def secret(account: Any) -> str:
    return account.credentials["signing_secret"]


def test_signed_event_succeeds_the_payment(
    client: Any, sandbox: Any, payment: Any, tasks: Any
) -> None:
    body = event_body(payment)
    assert (
        post_event(client, sandbox, body, sandbox_provider.sign(secret(sandbox), body)).status_code
        == 200
    )
    tasks()
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"
    event = GatewayEvent.objects.get()
    assert (event.verified, event.status, event.payment_id) == (True, "processed", payment["id"])
    assert json.loads(event.payload)["id"] == "evt_sbx_1"


def test_an_authoritative_event_is_applied_as_it_is_stored(
    client: Any, sandbox: Any, payment: Any, org: Any
) -> None:
    """Stored, applied and marked processed in the one transaction: no task is left to run."""
    from django_tasks_db.models import DBTaskResult

    body = event_body(payment)
    response = post_event(client, sandbox, body, sandbox_provider.sign(secret(sandbox), body))
    assert response.status_code == 200
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"
    event = GatewayEvent.objects.get()
    assert (event.status, event.attempts, event.payment_id) == ("processed", 1, payment["id"])
    assert event.processed_at is not None
    assert not DBTaskResult.objects.filter(task_path__endswith="process_gateway_event").exists()
    assert_ledger_balanced(org.id)


def test_an_event_that_cannot_be_applied_yet_is_stored_with_its_retry(
    client: Any, sandbox: Any, payment: Any
) -> None:
    """The failed application is undone (its savepoint), the event itself is kept."""
    from django_tasks_db.models import DBTaskResult

    body = event_body(payment, amount=1)  # the provider reports another amount
    post_event(client, sandbox, body, sandbox_provider.sign(secret(sandbox), body))
    event = GatewayEvent.objects.get()
    assert (event.status, event.attempts, event.payment_id) == ("pending", 1, None)
    assert "AmountMismatch" in event.last_error
    assert Payment.objects.get(pk=payment["id"]).status == "pending"
    assert DBTaskResult.objects.filter(task_path__endswith="process_gateway_event").count() == 1
    assert LedgerTransaction.objects.count() == 0


@pytest.mark.parametrize(
    "how",
    ["missing", "wrong_secret", "tampered_body", "stale", "malformed", "not_json"],
)
def test_signature_failures_change_nothing(
    client: Any, sandbox: Any, payment: Any, tasks: Any, how: str
) -> None:
    body = event_body(payment)
    signature: str | None = sandbox_provider.sign(secret(sandbox), body)
    if how == "missing":
        signature = None
    elif how == "wrong_secret":
        signature = sandbox_provider.sign("not-the-secret", body)
    elif how == "tampered_body":
        body = body.replace(b"7000", b"7")
    elif how == "stale":
        signature = sandbox_provider.sign(secret(sandbox), body, timestamp=int(time.time()) - 301)
    elif how == "malformed":
        signature = "v1=abc"
    elif how == "not_json":
        body = b"{not json"
        signature = sandbox_provider.sign(secret(sandbox), body)
    response = post_event(client, sandbox, body, signature)
    assert response.status_code == 400
    tasks()
    assert Payment.objects.get(pk=payment["id"]).status == "pending"
    assert LedgerTransaction.objects.count() == 0
    rejected = GatewayEvent.objects.get()
    assert (rejected.status, rejected.verified, rejected.external_id) == ("rejected", False, None)
    # A forged event cannot block the real one with the same id.
    good = event_body(payment)
    assert (
        post_event(client, sandbox, good, sandbox_provider.sign(secret(sandbox), good)).status_code
        == 200
    )
    tasks()
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"


def test_unknown_account_is_404(client: Any, payment: Any) -> None:
    assert (
        client.post("/hooks/sandbox/gwa_nope", b"{}", content_type="application/json").status_code
        == 404
    )


def test_duplicates_are_processed_once(
    client: Any, sandbox: Any, payment: Any, tasks: Any, org: Any
) -> None:
    body = event_body(payment)
    for _ in range(3):
        assert (
            post_event(
                client, sandbox, body, sandbox_provider.sign(secret(sandbox), body)
            ).status_code
            == 200
        )
    tasks()
    assert GatewayEvent.objects.count() == 1
    assert LedgerTransaction.objects.count() == 1
    assert_ledger_balanced(org.id)


def test_failure_after_success_is_ignored(
    client: Any, sandbox: Any, payment: Any, tasks: Any
) -> None:
    ok = event_body(payment, "succeeded", "evt_1")
    late = event_body(payment, "failed", "evt_2", failure_code="card_declined")
    post_event(client, sandbox, ok, sandbox_provider.sign(secret(sandbox), ok))
    post_event(client, sandbox, late, sandbox_provider.sign(secret(sandbox), late))
    tasks()
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"
    assert GatewayEvent.objects.get(external_id="evt_2").status == "ignored"


def test_success_after_failure_wins(
    client: Any, sandbox: Any, payment: Any, tasks: Any, org: Any
) -> None:
    # Out of order: the provider's success arrives after a failure was recorded.
    failed = event_body(payment, "failed", "evt_1", failure_code="card_declined")
    ok = event_body(payment, "succeeded", "evt_2")
    post_event(client, sandbox, failed, sandbox_provider.sign(secret(sandbox), failed))
    tasks()
    assert Payment.objects.get(pk=payment["id"]).status == "failed"
    post_event(client, sandbox, ok, sandbox_provider.sign(secret(sandbox), ok))
    tasks()
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"
    assert_ledger_balanced(org.id)


def test_wrong_amount_is_never_granted(client: Any, sandbox: Any, payment: Any, tasks: Any) -> None:
    body = event_body(payment, amount=1)
    post_event(client, sandbox, body, sandbox_provider.sign(secret(sandbox), body))
    tasks()
    assert Payment.objects.get(pk=payment["id"]).status == "pending"
    event = GatewayEvent.objects.get()
    assert event.status == "pending" and "AmountMismatch" in event.last_error
    assert LedgerTransaction.objects.count() == 0


def test_event_before_the_payment_is_visible_is_retried(sandbox: Any, org: Any, tasks: Any) -> None:
    from django_tasks_db.models import DBTaskResult

    from kassa.core.ids import new_id

    future_id = new_id("pay")
    body = event_body({"id": future_id, "amount": 900, "currency": "EUR"}).decode()
    stored = inbound.receive(
        sandbox, sandbox_provider.signed_request(sandbox.id, secret(sandbox), body)
    )
    tasks()
    record = GatewayEvent.objects.get(pk=stored[0].record.id)
    assert record.status == "pending" and record.attempts == 1
    retry = DBTaskResult.objects.filter(
        status="READY", task_path__endswith="process_gateway_event"
    ).get()
    assert retry.run_after > record.received_at  # backed off, not spinning
    Payment.objects.create(
        id=future_id, organization=org, amount=900, currency="EUR", gateway_account=sandbox
    )
    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=record.received_at)
    tasks()
    assert Payment.objects.get(pk=future_id).status == "succeeded"
    assert GatewayEvent.objects.get(pk=record.pk).status == "processed"


def test_repeated_failures_end_failed_and_can_be_reprocessed(sandbox: Any, org: Any) -> None:
    from kassa.core.ids import new_id

    body = event_body({"id": new_id("pay"), "amount": 900, "currency": "EUR"}).decode()
    record = inbound.receive(
        sandbox, sandbox_provider.signed_request(sandbox.id, secret(sandbox), body)
    )[0].record
    for _ in range(len(inbound.RETRY_DELAYS) + 1):
        inbound.process(record.id)
    assert GatewayEvent.objects.get(pk=record.pk).status == "failed"
    inbound.reprocess(record.id)
    assert GatewayEvent.objects.get(pk=record.pk).status == "pending"


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_deliveries_succeed_the_payment_once(make_api: Any) -> None:
    from kassa.core.actors import Actor
    from kassa.payments.accounts import create_gateway_account
    from tests.conftest import make_org, run_tasks

    org = make_org()
    account = create_gateway_account(
        org,
        provider="sandbox",
        test_mode=True,
        credentials={},
        currencies=["EUR"],
        actor=Actor.system("t"),
    )
    api = make_api(org)
    payment = api.post("/v1/payments", {"amount": 7000, "currency": "EUR"}).json()
    body = event_body(payment)
    signature = sandbox_provider.sign(account.credentials["signing_secret"], body)
    barrier = threading.Barrier(50)
    statuses: list[int] = []

    def deliver() -> None:
        try:
            barrier.wait()
            statuses.append(post_event(Client(), account, body, signature).status_code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 50
    run_tasks()
    assert GatewayEvent.objects.count() == 1
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"
    assert LedgerTransaction.objects.filter(reference=payment["id"]).count() == 1
    from kassa.events.models import Event

    assert Event.objects.filter(type="payment.succeeded").count() == 1
    assert_ledger_balanced(org.id)
