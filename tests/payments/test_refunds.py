"""Refunds: partial, full, over the limit, before success; the ledger holds and settles."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.events.models import Event
from kassa.ledger import services as ledger
from kassa.ledger.models import LedgerAccount
from kassa.payments.gateways.sandbox.models import SandboxRefund
from kassa.payments.models import Refund
from tests.ledger.helpers import assert_ledger_balanced
from tests.payments.conftest import CARDS

pytestmark = pytest.mark.django_db


def account_balance(org: Any, kind: str) -> int:
    return ledger.balance_of(LedgerAccount.objects.get(organization=org, kind=kind).pk)


def test_partial_then_full_refund(api: Any, pay: Any, org: Any, sandbox: Any) -> None:
    payment = pay(CARDS["success"], amount=10000, currency="EUR")
    first = api.post(
        "/v1/refunds", {"payment": payment["id"], "amount": 3000, "reason": "one night less"}
    )
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "succeeded"
    assert first.json()["amount"] == 3000
    rest = api.post("/v1/refunds", {"payment": payment["id"]}).json()  # the remaining amount
    assert (rest["status"], rest["amount"]) == ("succeeded", 7000)
    after = api.get(f"/v1/payments/{payment['id']}").json()
    assert after["amount_refunded"] == 10000
    assert account_balance(org, "payments_received") == 0
    assert account_balance(org, "gateway_clearing") == 0
    assert account_balance(org, "refunds_in_flight") == 0
    # The provider was asked once per refund, with our refund id as the idempotency key.
    assert sorted(SandboxRefund.objects.values_list("idempotency_key", flat=True)) == sorted(
        [first.json()["id"], rest["id"]]
    )
    types = list(Event.objects.filter(type__startswith="refund.").values_list("type", flat=True))
    assert types.count("refund.succeeded") == 2
    assert_ledger_balanced(org.id)


def test_refund_over_the_limit_is_refused(api: Any, pay: Any, org: Any) -> None:
    payment = pay(CARDS["success"], amount=10000, currency="EUR")
    too_much = api.post("/v1/refunds", {"payment": payment["id"], "amount": 10001})
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "refund_amount_too_high"
    api.post("/v1/refunds", {"payment": payment["id"], "amount": 10000})
    again = api.post("/v1/refunds", {"payment": payment["id"], "amount": 1})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "refund_amount_too_high"
    assert Refund.objects.count() == 1
    assert_ledger_balanced(org.id)


def test_refund_before_success_is_refused(api: Any, sandbox: Any, org: Any) -> None:
    payment = api.post("/v1/payments", {"amount": 500, "currency": "EUR"}).json()
    response = api.post("/v1/refunds", {"payment": payment["id"]})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "payment_not_succeeded"
    assert Refund.objects.count() == 0
    missing = api.post("/v1/refunds", {"payment": "pay_nope"})
    assert missing.status_code == 404


@pytest.mark.parametrize("amount", [0, -5])
def test_refund_amount_must_be_positive(api: Any, pay: Any, amount: int) -> None:
    payment = pay(CARDS["success"], amount=1000, currency="EUR")
    response = api.post("/v1/refunds", {"payment": payment["id"], "amount": amount})
    assert response.status_code == 400
    assert Refund.objects.count() == 0


def test_refund_of_another_organizations_payment_is_404(pay: Any, make_api: Any) -> None:
    from tests.conftest import make_org

    payment = pay(CARDS["success"], amount=1000, currency="EUR")
    stranger = make_api(make_org("Stranger"))
    assert stranger.post("/v1/refunds", {"payment": payment["id"]}).status_code == 404
    assert stranger.get(f"/v1/payments/{payment['id']}").status_code == 404


def test_provider_refusal_releases_the_hold(
    api: Any, pay: Any, org: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kassa.payments.gateways.sandbox import provider as sandbox_provider

    payment = pay(CARDS["success"], amount=1000, currency="EUR")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("refund window closed")

    monkeypatch.setattr(sandbox_provider, "refund", refuse)
    refund = api.post("/v1/refunds", {"payment": payment["id"], "amount": 400}).json()
    assert refund["status"] == "failed"
    assert refund["failure_message"] == "refund window closed"
    assert api.get(f"/v1/payments/{payment['id']}").json()["amount_refunded"] == 0
    assert account_balance(org, "payments_received") == 1000
    assert account_balance(org, "refunds_in_flight") == 0
    assert Event.objects.filter(type="refund.failed").count() == 1
    assert_ledger_balanced(org.id)


def test_unreachable_provider_keeps_the_refund_pending_and_retries(
    api: Any, pay: Any, org: Any, tasks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_tasks_db.models import DBTaskResult

    from kassa.payments.gateways.sandbox import provider as sandbox_provider

    payment = pay(CARDS["success"], amount=1000, currency="EUR")
    real = sandbox_provider.refund

    def down(*args: Any, **kwargs: Any) -> Any:
        raise LookupError("connection refused")

    monkeypatch.setattr(sandbox_provider, "refund", down)
    refund = api.post("/v1/refunds", {"payment": payment["id"], "amount": 400}).json()
    assert refund["status"] == "pending"
    assert account_balance(org, "refunds_in_flight") == 400  # held, not yet gone
    # The retry is scheduled with a delay; make it due and let the provider come back.
    monkeypatch.setattr(sandbox_provider, "refund", real)
    DBTaskResult.objects.filter(task_path__endswith="retry_refund").update(
        run_after="2000-01-01T00:00:00Z"
    )
    tasks()
    assert api.get(f"/v1/refunds/{refund['id']}").json()["status"] == "succeeded"
    assert SandboxRefund.objects.count() == 1
    # Another refund may not exceed what the pending one left.
    assert_ledger_balanced(org.id)


def test_pending_refund_reserves_its_amount(
    api: Any, pay: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kassa.payments.gateways.sandbox import provider as sandbox_provider

    payment = pay(CARDS["success"], amount=1000, currency="EUR")
    monkeypatch.setattr(
        sandbox_provider, "refund", lambda *a, **k: (_ for _ in ()).throw(LookupError("down"))
    )
    api.post("/v1/refunds", {"payment": payment["id"], "amount": 800})
    response = api.post("/v1/refunds", {"payment": payment["id"], "amount": 300})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "refund_amount_too_high"
