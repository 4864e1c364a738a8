"""The wallets API: wallets, settings, charges, batches, reversals, history, isolation."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from kassa.core.actors import Actor
from kassa.core.models import AuditLogEntry
from kassa.events.models import Event
from kassa.ledger.models import LedgerTransaction
from kassa.wallets import services
from kassa.wallets.models import Wallet
from kassa.wallets.signals import balance_changed
from tests.conftest import make_org
from tests.ledger.helpers import assert_ledger_balanced

pytestmark = pytest.mark.django_db


def test_create_and_get_wallet(api: Any, customer: Any, org: Any) -> None:
    created = api.post("/v1/wallets", {"customer": customer.id, "currency": "eur"})
    assert created.status_code == 200, created.content
    body = created.json()
    assert body["id"].startswith("wal_")
    assert (body["balance"], body["currency"], body["credit_limit"]) == (0, "EUR", 0)
    assert api.get(f"/v1/wallets/{body['id']}").json() == body
    again = api.post("/v1/wallets", {"customer": customer.id, "currency": "EUR"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "wallet_exists"
    other = api.post("/v1/wallets", {"customer": customer.id, "currency": "UZS"})
    assert other.status_code == 200
    listed = api.get("/v1/wallets", customer=customer.id).json()
    assert {w["currency"] for w in listed["data"]} == {"EUR", "UZS"}
    missing = api.post("/v1/wallets", {"customer": "cus_nope", "currency": "EUR"})
    assert missing.status_code == 404
    assert missing.json()["error"]["param"] == "customer"
    assert Event.objects.filter(organization=org, type="wallet.created").count() == 2


def test_charge_debits_or_refuses(
    api: Any, wallet: Wallet, org: Any, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[dict[str, Any]] = []

    def listener(**kwargs: Any) -> None:
        sent.append(kwargs)

    balance_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ok = api.post(
                f"/v1/wallets/{wallet.id}/charges",
                {"amount": 2500, "description": "42 minutes", "metadata": {"call": "c1"}},
                idempotency_key="k1",
            )
        assert ok.status_code == 200, ok.content
        charge = ok.json()
        assert charge["id"].startswith("wch_")
        assert (charge["amount"], charge["balance_after"], charge["replayed"]) == (
            2500,
            7500,
            False,
        )
        assert sent[-1]["balance"] == 7500
        assert sent[-1]["wallet_id"] == wallet.id
        first_sequence = sent[-1]["sequence"]
        refused = api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 7501})
        assert refused.status_code == 402
        assert refused.json()["error"]["code"] == "insufficient_funds"
        assert api.get(f"/v1/wallets/{wallet.id}").json()["balance"] == 7500
        assert len(sent) == 1  # the refusal changed nothing and announced nothing
        replay = api.post(
            f"/v1/wallets/{wallet.id}/charges",
            {"amount": 2500, "description": "42 minutes", "metadata": {"call": "c1"}},
            idempotency_key="k1",
        )
        assert replay.json()["id"] == charge["id"]
        assert replay.headers.get("Idempotent-Replayed") == "true"
        with django_capture_on_commit_callbacks(execute=True):
            exact = api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 7500})
        assert exact.json()["balance_after"] == 0
        assert sent[-1]["sequence"] > first_sequence
    finally:
        balance_changed.disconnect(listener)
    assert api.get(f"/v1/wallet_charges/{charge['id']}").json()["metadata"] == {"call": "c1"}
    assert Event.objects.filter(organization=org, type="wallet.charged").count() == 2
    for bad in ({"amount": 0}, {"amount": -5}):
        assert api.post(f"/v1/wallets/{wallet.id}/charges", bad).status_code == 400
    assert_ledger_balanced(org.id)


def test_service_idempotency_survives_expired_api_keys(wallet: Wallet) -> None:
    first = services.charge(wallet, amount=100, idempotency_key="meter-1")
    again = services.charge(wallet, amount=100, idempotency_key="meter-1")
    assert again["id"] == first["id"]
    assert again["replayed"] is True
    from kassa.ledger.services import LedgerIdempotencyConflict

    with pytest.raises(LedgerIdempotencyConflict):
        services.charge(wallet, amount=101, idempotency_key="meter-1")
    assert services.get_wallet(wallet.organization_id, wallet.id).ledger_account.balance == 9900


def test_credit_limit_lets_balance_go_negative(api: Any, wallet: Wallet, org: Any) -> None:
    put = api.put("/v1/wallet_settings/EUR", {"credit_limit": 5000})
    assert put.status_code == 200, put.content
    assert put.json()["credit_limit"] == 5000
    assert api.get(f"/v1/wallets/{wallet.id}").json()["available"] == 15_000
    assert api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 15_000}).status_code == 200
    assert api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 1}).status_code == 402
    assert api.get(f"/v1/wallets/{wallet.id}").json()["balance"] == -5000
    # The limit cannot be lowered under a wallet that uses it.
    lowered = api.put("/v1/wallet_settings/EUR", {"credit_limit": 0})
    assert lowered.status_code == 409
    assert api.get("/v1/wallet_settings/EUR").json()["credit_limit"] == 5000
    assert AuditLogEntry.objects.filter(action="wallet_settings.updated").count() == 1
    assert_ledger_balanced(org.id)


def test_settings_validation(api: Any) -> None:
    assert api.get("/v1/wallet_settings/EUR").json()["bonus_tiers"] == []
    bad = api.put(
        "/v1/wallet_settings/EUR", {"bonus_tiers": [{"min_amount": 5000, "basis_points": 0}]}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "bonus_tiers[0].basis_points"
    upside_down = api.put("/v1/wallet_settings/EUR", {"min_topup": 500, "max_topup": 100})
    assert upside_down.status_code == 400
    assert api.put("/v1/wallet_settings/XXXX", {}).status_code in (400, 422)


def test_batch_charges_all_or_nothing(api: Any, make_wallet: Any, org: Any) -> None:
    from kassa.customers.services import create_customer

    first = make_wallet(10_000)
    other_customer = create_customer(org, {"name": "Bo"})
    second = services.create_wallet(org, customer_id=other_customer.id, currency="EUR")
    services.adjust(
        services.get_wallet(org, second.id), amount=300, reason="fund", actor=Actor.system("t")
    )
    charges = [
        {"wallet": first.id, "amount": 10, "idempotency_key": f"b-{i}", "description": "sms"}
        for i in range(200)
    ] + [{"wallet": second.id, "amount": 100, "idempotency_key": "s-1"}]
    ok = api.post("/v1/wallet_charges/batch", {"charges": charges})
    assert ok.status_code == 200, ok.content
    data = ok.json()["data"]
    assert len(data) == 201
    assert not any(item["replayed"] for item in data)
    assert api.get(f"/v1/wallets/{first.id}").json()["balance"] == 8000
    assert api.get(f"/v1/wallets/{second.id}").json()["balance"] == 200
    summary = Event.objects.filter(type="wallet.charges_posted", object_id=first.id).get()
    assert summary.data["object"]["count"] == 200
    # Repeating part of it charges nothing again; a refusal leaves everything as it was.
    again = api.post(
        "/v1/wallet_charges/batch",
        {
            "charges": [
                *charges[:5],
                {"wallet": second.id, "amount": 1000, "idempotency_key": "s-2"},
            ]
        },
    )
    assert again.status_code == 402
    assert api.get(f"/v1/wallets/{second.id}").json()["balance"] == 200
    replay = api.post("/v1/wallet_charges/batch", {"charges": charges[:5] + charges[:1]})
    assert [item["replayed"] for item in replay.json()["data"]] == [True] * 6
    assert [item["id"] for item in replay.json()["data"]][:5] == [d["id"] for d in data[:5]]
    assert api.get(f"/v1/wallets/{first.id}").json()["balance"] == 8000
    # Duplicates inside one batch are charged once.
    dup = api.post(
        "/v1/wallet_charges/batch",
        {"charges": [{"wallet": first.id, "amount": 7, "idempotency_key": "d"}] * 3},
    ).json()["data"]
    assert len({item["id"] for item in dup}) == 1
    assert api.get(f"/v1/wallets/{first.id}").json()["balance"] == 7993
    too_many = [{"wallet": first.id, "amount": 1, "idempotency_key": f"x{i}"} for i in range(1001)]
    assert api.post("/v1/wallet_charges/batch", {"charges": too_many}).status_code == 422
    no_key = api.post("/v1/wallet_charges/batch", {"charges": [{"wallet": first.id, "amount": 1}]})
    assert no_key.status_code == 422
    assert_ledger_balanced(org.id)


def test_reversal(api: Any, wallet: Wallet, org: Any) -> None:
    charge = api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 4000}).json()
    reversed_ = api.post(f"/v1/wallet_charges/{charge['id']}/reverse")
    assert reversed_.status_code == 200, reversed_.content
    assert reversed_.json()["reversed"] is True
    assert api.get(f"/v1/wallets/{wallet.id}").json()["balance"] == 10_000
    again = api.post(f"/v1/wallet_charges/{charge['id']}/reverse")
    assert again.status_code == 200
    assert api.get(f"/v1/wallets/{wallet.id}").json()["balance"] == 10_000
    assert LedgerTransaction.objects.filter(kind="wallet_charge_reversal").count() == 1
    assert api.post("/v1/wallet_charges/wch_nope/reverse").status_code == 404
    assert_ledger_balanced(org.id)


def test_adjustment_needs_reason_and_is_audited(wallet: Wallet, org: Any) -> None:
    from kassa.core.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        services.adjust(wallet, amount=100, reason=" ", actor=Actor.system("t"))
    with pytest.raises(services.InsufficientFunds):
        services.adjust(wallet, amount=-10_001, reason="too much", actor=Actor.system("t"))
    services.adjust(wallet, amount=-1000, reason="goodwill undone", actor=Actor.system("t"))
    entry = AuditLogEntry.objects.filter(action="wallet.adjusted").order_by("-id").first()
    assert entry is not None and entry.reason == "goodwill undone"
    assert services.get_wallet(org, wallet.id).ledger_account.balance == 9000
    assert_ledger_balanced(org.id)


def test_history_filters_pages_and_csv(api: Any, wallet: Wallet) -> None:
    for i in range(5):
        api.post(
            f"/v1/wallets/{wallet.id}/charges",
            {"amount": 100 * (i + 1), "description": f"call {i}"},
        )
    first = api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 50, "description": "=cmd"})
    api.post(f"/v1/wallet_charges/{first.json()['id']}/reverse")
    everything = api.get(f"/v1/wallets/{wallet.id}/transactions", limit=100).json()["data"]
    assert [t["type"] for t in everything][:2] == ["reversal", "charge"]
    assert everything[-1]["type"] == "adjustment"
    assert len(everything) == 8
    charges = api.get(f"/v1/wallets/{wallet.id}/transactions", type="charge", limit=100).json()
    assert len(charges["data"]) == 6
    mid = api.get(
        f"/v1/wallets/{wallet.id}/transactions", type="charge", amount_gte=200, amount_lte=400
    ).json()["data"]
    assert sorted(t["amount"] for t in mid) == [-400, -300, -200]
    text = api.get(f"/v1/wallets/{wallet.id}/transactions", q="CALL 3").json()["data"]
    assert [t["description"] for t in text] == ["call 3"]
    page1 = api.get(f"/v1/wallets/{wallet.id}/transactions", limit=3).json()
    page2 = api.get(
        f"/v1/wallets/{wallet.id}/transactions", limit=3, starting_after=page1["data"][-1]["id"]
    ).json()
    assert page1["has_more"] and page2["has_more"]
    ids = [t["id"] for t in page1["data"] + page2["data"]]
    assert ids == [t["id"] for t in everything[:6]]
    assert api.get(f"/v1/wallets/{wallet.id}/transactions", type="gift").status_code == 400
    future = api.get(f"/v1/wallets/{wallet.id}/transactions", created_gte="2099-01-01T00:00:00Z")
    assert future.json()["data"] == []
    exported = api.get(f"/v1/wallets/{wallet.id}/transactions.csv")
    assert exported.status_code == 200
    assert exported.streaming
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert rows[0][:4] == ["id", "created", "type", "amount"]
    assert len(rows) == 9
    assert any(row[6] == "'=cmd" for row in rows)  # no formula injection into spreadsheets


def test_other_organizations_see_nothing(api: Any, make_api: Any, wallet: Wallet) -> None:
    charge = api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 10}).json()
    stranger = make_api(make_org("Stranger"))
    for path in (
        f"/v1/wallets/{wallet.id}",
        f"/v1/wallets/{wallet.id}/transactions",
        f"/v1/wallets/{wallet.id}/transactions.csv",
        f"/v1/wallet_charges/{charge['id']}",
    ):
        assert stranger.get(path).status_code == 404, path
    assert stranger.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 1}).status_code == 404
    assert stranger.post(f"/v1/wallet_charges/{charge['id']}/reverse").status_code == 404
    batch = stranger.post(
        "/v1/wallet_charges/batch",
        {"charges": [{"wallet": wallet.id, "amount": 1, "idempotency_key": "x"}]},
    )
    assert batch.status_code == 404
    assert stranger.get("/v1/wallets").json()["data"] == []
    assert services.get_wallet(wallet.organization_id, wallet.id).ledger_account.balance == 9990


def test_update_thresholds_and_metadata(api: Any, wallet: Wallet) -> None:
    updated = api.post(
        f"/v1/wallets/{wallet.id}",
        {"low_balance_thresholds": [100, 5000, 100], "metadata": {"plan": "pro"}},
    )
    assert updated.status_code == 200, updated.content
    assert updated.json()["low_balance_thresholds"] == [5000, 100]
    assert updated.json()["metadata"] == {"plan": "pro"}
    bad = api.post(f"/v1/wallets/{wallet.id}", {"low_balance_thresholds": list(range(11))})
    assert bad.status_code == 400
