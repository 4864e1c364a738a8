"""POST /hooks/stripe/<account>: Stripe-Signature checks, duplicates, ordering, concurrency."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from django.db import close_old_connections
from django.test import Client

from kassa.events.models import Event
from kassa.ledger.models import LedgerTransaction
from kassa.payments.models import GatewayEvent, Payment
from tests.ledger.helpers import assert_ledger_balanced
from tests.payments.gateways.stripe.support import SUCCESS, django_post, make_stripe_account
from tests.simulators.stripe_sim import StripeSimulator, sign

pytestmark = pytest.mark.django_db


def post(client: Client, account: Any, body: bytes, signature: str | None) -> Any:
    headers = {} if signature is None else {"Stripe-Signature": signature}
    return client.post(
        f"/hooks/stripe/{account.id}", body, content_type="application/json", headers=headers
    )


@pytest.fixture
def paid(api: Any, stripe_sim: Any, stripe_account: Any, stripe_shopper: Any) -> dict[str, Any]:
    """A payment the customer has paid at Stripe, whose events are not delivered yet."""
    payment = api.post("/v1/payments", {"amount": 4200, "currency": "EUR"}).json()
    stripe_shopper.checkout(payment["checkout_url"], stripe_account.id, SUCCESS)
    return dict(payment)


def completed(sim: StripeSimulator) -> bytes:
    return sim.events("checkout.session.completed")[0].body


def assert_nothing_changed(payment_id: str) -> None:
    assert Payment.objects.get(pk=payment_id).status == "pending"
    assert not LedgerTransaction.objects.filter(reference=payment_id).exists()
    assert not Event.objects.filter(object_id=payment_id).exclude(type="payment.created").exists()
    assert set(GatewayEvent.objects.values_list("status", flat=True)) <= {"rejected"}


def test_a_signed_event_is_accepted(
    client: Any, paid: Any, stripe_sim: Any, stripe_account: Any, tasks: Any
) -> None:
    body = completed(stripe_sim)
    assert (
        post(client, stripe_account, body, sign(stripe_sim.webhook_secret, body)).status_code == 200
    )
    tasks()
    assert Payment.objects.get(pk=paid["id"]).status == "succeeded"
    event = GatewayEvent.objects.get()
    assert (event.provider, event.raw_type, event.status) == (
        "stripe",
        "checkout.session.completed",
        "processed",
    )
    assert event.external_id == json.loads(body)["id"]
    assert event.headers["stripe-signature"].startswith("t=")


def _signature(how: str, secret: str, body: bytes) -> tuple[bytes, str | None]:
    now = int(time.time())
    good = sign(secret, body, now)
    if how == "missing":
        return body, None
    if how == "empty":
        return body, ""
    if how == "wrong_secret":
        return body, sign("whsec_someone_else", body, now)
    if how == "tampered_body":
        return body.replace(b'"paid"', b'"paid" '), good
    if how == "stale":
        return body, sign(secret, body, now - 301)
    if how == "malformed":
        return body, "this is not a signature"
    if how == "no_timestamp":
        return body, good.split(",", 1)[1]
    if how == "v0_only":
        return body, good.replace("v1=", "v0=")
    if how == "signed_for_other_time":
        return body, f"t={now},{sign(secret, body, now - 10).split(',')[1]}"
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "missing",
        "empty",
        "wrong_secret",
        "tampered_body",
        "stale",
        "malformed",
        "no_timestamp",
        "v0_only",
        "signed_for_other_time",
    ],
)
def test_signature_failures_change_nothing(
    client: Any, paid: Any, stripe_sim: Any, stripe_account: Any, tasks: Any, how: str
) -> None:
    body, signature = _signature(how, stripe_sim.webhook_secret, completed(stripe_sim))
    response = post(client, stripe_account, body, signature)
    assert response.status_code == 400, response.content
    assert "verification failed" in response.json()["error"]
    tasks()
    assert_nothing_changed(paid["id"])
    rejected = GatewayEvent.objects.get()
    assert (rejected.verified, rejected.status, rejected.external_id) == (False, "rejected", None)
    # The genuine event still gets through afterwards: a forgery occupies no id.
    genuine = completed(stripe_sim)
    assert (
        post(client, stripe_account, genuine, sign(stripe_sim.webhook_secret, genuine)).status_code
        == 200
    )
    tasks()
    assert Payment.objects.get(pk=paid["id"]).status == "succeeded"


def test_one_good_signature_among_several_is_enough(
    client: Any, paid: Any, stripe_sim: Any, stripe_account: Any, tasks: Any
) -> None:
    body = completed(stripe_sim)
    now = int(time.time())
    good = sign(stripe_sim.webhook_secret, body, now).split(",")[1]
    bad = sign("whsec_rotated_out", body, now).split(",")[1]
    header = f"t={now},{bad},{good},v0=deadbeef"
    assert post(client, stripe_account, body, header).status_code == 200
    tasks()
    assert Payment.objects.get(pk=paid["id"]).status == "succeeded"


def test_another_accounts_secret_is_refused(
    client: Any, org: Any, paid: Any, stripe_sim: Any, stripe_account: Any
) -> None:
    other_sim = StripeSimulator()
    other = make_stripe_account(org, other_sim)
    stripe_sim.hook_path = f"/hooks/stripe/{stripe_account.id}"
    body = completed(stripe_sim)
    # Signed with this account's secret but sent to the other account's URL.
    assert post(client, other, body, sign(stripe_sim.webhook_secret, body)).status_code == 400
    assert_nothing_changed(paid["id"])


def test_a_live_event_for_a_test_account_is_refused(
    client: Any, paid: Any, stripe_sim: Any, stripe_account: Any
) -> None:
    event = json.loads(completed(stripe_sim))
    event["livemode"] = True
    body = json.dumps(event).encode()
    assert (
        post(client, stripe_account, body, sign(stripe_sim.webhook_secret, body)).status_code == 400
    )
    assert_nothing_changed(paid["id"])


def test_unknown_account_is_404(client: Any, stripe_sim: Any) -> None:
    body = b'{"id": "evt_1", "object": "event"}'
    response = post(client, type("A", (), {"id": "gwa_nope"})(), body, sign("whsec_x", body))
    assert response.status_code == 404


def test_duplicates_are_processed_once(
    paid: Any, stripe_sim: Any, stripe_account: Any, tasks: Any, org: Any
) -> None:
    for _ in range(3):
        for sent in stripe_sim.events():
            sent.status = None  # Stripe retries: the same events again
        assert stripe_sim.deliver(django_post()) == [200, 200]
    tasks()
    assert GatewayEvent.objects.count() == 2
    assert Payment.objects.get(pk=paid["id"]).status == "succeeded"
    assert LedgerTransaction.objects.filter(reference=paid["id"]).count() == 1
    assert Event.objects.filter(object_id=paid["id"], type="payment.succeeded").count() == 1
    assert_ledger_balanced(org.id)


def test_out_of_order_events(
    api: Any,
    client: Any,
    stripe_sim: Any,
    stripe_account: Any,
    stripe_shopper: Any,
    tasks: Any,
    org: Any,
) -> None:
    payment = api.post("/v1/payments", {"amount": 990, "currency": "EUR"}).json()
    session_url = stripe_shopper.open_session(payment["checkout_url"], stripe_account.id)
    stripe_shopper.pay(session_url, SUCCESS)
    succeeded, session_done = stripe_sim.events()
    # A stale "expired" of the same session, and the completion, arrive after the success.
    expired = json.loads(session_done.body)
    expired.update(id="evt_late_expired", type="checkout.session.expired")
    expired["data"]["object"]["status"] = "expired"
    for body in (succeeded.body, json.dumps(expired).encode(), session_done.body):
        assert (
            post(client, stripe_account, body, sign(stripe_sim.webhook_secret, body)).status_code
            == 200
        )
        tasks()
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"
    statuses = dict(GatewayEvent.objects.values_list("raw_type", "status"))
    assert statuses == {
        "payment_intent.succeeded": "processed",
        "checkout.session.expired": "ignored",
        "checkout.session.completed": "processed",
    }
    assert LedgerTransaction.objects.filter(reference=payment["id"]).count() == 1
    assert_ledger_balanced(org.id)


def test_an_event_before_its_payment_is_retried(
    client: Any, stripe_sim: Any, stripe_account: Any, tasks: Any
) -> None:
    from kassa.core.ids import new_id

    event = {
        "id": "evt_early",
        "object": "event",
        "type": "payment_intent.succeeded",
        "livemode": False,
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "pi_early",
                "object": "payment_intent",
                "amount": 100,
                "amount_received": 100,
                "currency": "eur",
                "status": "succeeded",
                "metadata": {"kassa_payment_id": new_id("pay")},
            }
        },
    }
    body = json.dumps(event).encode()
    assert (
        post(client, stripe_account, body, sign(stripe_sim.webhook_secret, body)).status_code == 200
    )
    tasks()
    record = GatewayEvent.objects.get()
    assert (record.status, record.attempts) == ("pending", 1)
    assert "not found" in record.last_error


def test_other_event_types_are_stored_and_acknowledged(
    client: Any, stripe_sim: Any, stripe_account: Any, tasks: Any
) -> None:
    body = json.dumps(
        {
            "id": "evt_customer",
            "object": "event",
            "type": "customer.created",
            "livemode": False,
            "created": int(time.time()),
            "data": {"object": {"id": "cus_1", "object": "customer"}},
        }
    ).encode()
    response = post(client, stripe_account, body, sign(stripe_sim.webhook_secret, body))
    assert response.status_code == 200
    tasks()
    record = GatewayEvent.objects.get()
    assert (record.raw_type, record.status, record.verified) == (
        "customer.created",
        "ignored",
        True,
    )


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_deliveries_succeed_the_payment_once(
    make_api: Any, stripe_sim: Any, stripe_shopper: Any
) -> None:
    from tests.conftest import make_org, run_tasks

    org = make_org()
    account = make_stripe_account(org, stripe_sim)
    api = make_api(org)
    payment = api.post("/v1/payments", {"amount": 7000, "currency": "EUR"}).json()
    stripe_shopper.checkout(payment["checkout_url"], account.id, SUCCESS)
    body = completed(stripe_sim)
    signature = sign(stripe_sim.webhook_secret, body)
    barrier = threading.Barrier(50)
    statuses: list[int] = []

    def deliver() -> None:
        try:
            barrier.wait()
            statuses.append(post(Client(), account, body, signature).status_code)
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
    assert Event.objects.filter(object_id=payment["id"], type="payment.succeeded").count() == 1
    assert_ledger_balanced(org.id)
