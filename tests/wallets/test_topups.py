"""Top-ups through the sandbox checkout, bonus tiers, and their ledger."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.events.models import Event
from kassa.ledger.models import LedgerTransaction
from kassa.wallets.models import Wallet
from kassa.wallets.rules import bonus_for, settings_for
from tests.ledger.helpers import assert_ledger_balanced
from tests.payments.conftest import CARDS

pytestmark = pytest.mark.django_db

TIERS = [
    {"min_amount": 5000, "basis_points": 500},
    {"min_amount": 10000, "basis_points": 1000},
    {"min_amount": 25000, "basis_points": 1500},
]


def test_bonus_tiers_and_rounding(api: Any, org: Any) -> None:
    assert api.put("/v1/wallet_settings/EUR", {"bonus_tiers": TIERS}).status_code == 200
    rules = settings_for(org.id, "EUR")
    assert bonus_for(rules, 4999) == 0
    assert bonus_for(rules, 5000) == 250
    assert bonus_for(rules, 5010) == 251  # 250.5 rounds half up
    assert bonus_for(rules, 5009) == 250  # 250.45 rounds down
    assert bonus_for(rules, 10_000) == 1000  # the highest tier reached, not the sum
    assert bonus_for(rules, 30_000) == 4500
    assert bonus_for(settings_for(org.id, "UZS"), 10**9) == 0  # none by default


def test_topup_through_sandbox_checkout(
    api: Any, wallet: Wallet, org: Any, sandbox: Any, shopper: Any, tasks: Any
) -> None:
    api.put(
        "/v1/wallet_settings/EUR", {"bonus_tiers": TIERS, "min_topup": 500, "max_topup": 50_000}
    )
    too_small = api.post(f"/v1/wallets/{wallet.id}/topups", {"amount": 499})
    assert too_small.status_code == 400
    assert api.post(f"/v1/wallets/{wallet.id}/topups", {"amount": 50_001}).status_code == 400
    created = api.post(
        f"/v1/wallets/{wallet.id}/topups", {"amount": 10_000, "save_payment_method": True}
    )
    assert created.status_code == 200, created.content
    topup = created.json()
    assert (topup["status"], topup["amount"], topup["bonus_amount"]) == ("pending", 10_000, 1000)
    assert topup["payment"]["checkout_url"]
    assert topup["payment"]["purpose"] == "wallet_topup"
    assert api.get(f"/v1/wallets/{wallet.id}").json()["balance"] == 10_000  # not yet
    shopper.pay(topup["payment"]["checkout_url"], sandbox.id, CARDS["success"])
    tasks()
    done = api.get(f"/v1/wallet_topups/{topup['id']}").json()
    assert done["status"] == "succeeded"
    assert api.get(f"/v1/wallets/{wallet.id}").json()["balance"] == 10_000 + 10_000 + 1000
    history = api.get(f"/v1/wallets/{wallet.id}/transactions", limit=10).json()["data"]
    assert [(t["type"], t["amount"]) for t in history[:2]] == [("bonus", 1000), ("topup", 10_000)]
    assert LedgerTransaction.objects.filter(kind="wallet_bonus").count() == 1
    assert Event.objects.filter(organization=org, type="wallet.topped_up").count() == 1
    methods = api.get(f"/v1/customers/{wallet.customer_id}/payment_methods").json()["data"]
    assert len(methods) == 1  # saved for auto top-up
    # The provider's repeated news changes nothing more.
    tasks()
    assert api.get(f"/v1/wallets/{wallet.id}").json()["balance"] == 21_000
    assert_ledger_balanced(org.id)


def test_failed_topup_credits_nothing(
    api: Any, wallet: Wallet, org: Any, sandbox: Any, shopper: Any, tasks: Any
) -> None:
    topup = api.post(f"/v1/wallets/{wallet.id}/topups", {"amount": 3000}).json()
    shopper.pay(topup["payment"]["checkout_url"], sandbox.id, CARDS["declined"])
    tasks()
    api.post(f"/v1/payments/{topup['payment']['id']}/cancel")
    assert api.get(f"/v1/wallet_topups/{topup['id']}").json()["status"] == "failed"
    assert api.get(f"/v1/wallets/{wallet.id}").json()["balance"] == 10_000
    assert_ledger_balanced(org.id)


def test_topup_refund_only_while_unspent(
    api: Any, wallet: Wallet, org: Any, sandbox: Any, shopper: Any, tasks: Any
) -> None:
    topup = api.post(f"/v1/wallets/{wallet.id}/topups", {"amount": 3000}).json()
    shopper.pay(topup["payment"]["checkout_url"], sandbox.id, CARDS["success"])
    tasks()
    api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 12_000})
    refused = api.post("/v1/refunds", {"payment": topup["payment"]["id"], "amount": 3000})
    assert refused.status_code in (400, 402, 409)
    ok = api.post("/v1/refunds", {"payment": topup["payment"]["id"], "amount": 1000})
    assert ok.status_code == 200, ok.content
    tasks()
    assert api.get(f"/v1/wallets/{wallet.id}").json()["balance"] == 0
    assert_ledger_balanced(org.id)
