"""Wallets against an in-memory model, driven by Hypothesis: top-ups with bonuses, charges
(with repeated keys), batches, reversals, and the refusals that must change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from kassa.core.actors import Actor
from kassa.core.errors import InvalidRequest
from kassa.customers.services import create_customer
from kassa.ledger.models import LedgerEntry
from kassa.payments.accounts import create_gateway_account
from kassa.payments.services import apply_outcome
from kassa.payments.states import Source
from kassa.wallets import rules, services, topups
from kassa.wallets.models import TopUp
from tests.conftest import make_org
from tests.ledger.helpers import assert_ledger_balanced

KEYS = st.sampled_from([f"k{i}" for i in range(10)])
AMOUNTS = st.integers(min_value=1, max_value=3000)
TIERS = [{"min_amount": 1000, "basis_points": 500}, {"min_amount": 2500, "basis_points": 1250}]
MIN_TOPUP = 100


def model_bonus(amount: int) -> int:
    points = 0
    for tier in TIERS:
        if amount >= tier["min_amount"]:
            points = tier["basis_points"]
    whole, rest = divmod(amount * points, 10_000)
    return whole + (1 if rest * 2 >= 10_000 else 0)  # round half up


class WalletMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.org = make_org("Stateful wallets")
        actor = Actor.system("test")
        create_gateway_account(
            self.org,
            provider="sandbox",
            test_mode=True,
            credentials={},
            currencies=["EUR"],
            is_default=True,
            actor=actor,
        )
        rules.update_settings(
            self.org, "EUR", {"bonus_tiers": TIERS, "min_topup": MIN_TOPUP}, actor=actor
        )
        customer = create_customer(self.org, {"name": "Model"})
        created = services.create_wallet(self.org, customer_id=customer.id, currency="EUR")
        self.wallet = services.get_wallet(self.org, created.id)
        self.balance = 0
        self.charged: dict[str, int] = {}  # key -> amount
        self.charge_ids: dict[str, str] = {}  # key -> charge id
        self.reversed: set[str] = set()

    def _wallet(self) -> Any:
        return services.get_wallet(self.org, self.wallet.id)

    @rule(amount=st.integers(min_value=1, max_value=4000))
    def top_up(self, amount: int) -> None:
        try:
            topup = topups.create_topup(self._wallet(), amount=amount, livemode=False)
        except InvalidRequest:
            assert amount < MIN_TOPUP
            return
        assert amount >= MIN_TOPUP
        assert topup.bonus_amount == model_bonus(amount)
        assert topup.payment is not None
        apply_outcome(topup.payment.id, "succeeded", Source.GATEWAY)
        assert TopUp.objects.get(pk=topup.id).status == "succeeded"
        self.balance += amount + model_bonus(amount)

    @rule(key=KEYS, amount=AMOUNTS)
    def charge(self, key: str, amount: int) -> None:
        if key in self.charged:
            amount = self.charged[key]  # a client retrying sends the same charge
        try:
            result = services.charge(self._wallet(), amount=amount, idempotency_key=key)
        except services.InsufficientFunds:
            assert key not in self.charged
            assert amount > self.balance
            return
        if key in self.charged:
            assert result["replayed"] and result["id"] == self.charge_ids[key]
            return
        assert not result["replayed"]
        assert amount <= self.balance
        self.balance -= amount
        self.charged[key] = amount
        self.charge_ids[key] = result["id"]

    @rule(items=st.lists(st.tuples(KEYS, AMOUNTS), min_size=1, max_size=6))
    def batch(self, items: list[tuple[str, int]]) -> None:
        requests = []
        new: dict[str, int] = {}
        for key, amount in items:
            amount = self.charged.get(key, new.get(key, amount))
            if key not in self.charged:
                new.setdefault(key, amount)
            requests.append(
                services.ChargeRequest(wallet_id=self.wallet.id, amount=amount, idempotency_key=key)
            )
        total = sum(new.values())
        try:
            results = services.charge_batch(self.org, requests)
        except services.InsufficientFunds:
            assert total > self.balance  # all or nothing
            return
        assert total <= self.balance
        self.balance -= total
        for (key, _), result in zip(items, results, strict=True):
            if key in self.charged:
                assert result["replayed"] and result["id"] == self.charge_ids[key]
        for key, amount in new.items():
            self.charged[key] = amount
            self.charge_ids[key] = next(
                r["id"] for (k, _), r in zip(items, results, strict=True) if k == key
            )

    @precondition(lambda self: bool(self.charge_ids))
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.charge_ids)))
        result = services.reverse_charge(self.org, self.charge_ids[key])
        assert result["reversed"] is True
        if key not in self.reversed:
            self.reversed.add(key)
            self.balance += self.charged[key]

    @rule(amount=st.integers(min_value=1, max_value=5000))
    def refused_charge_changes_nothing(self, amount: int) -> None:
        before = LedgerEntry.objects.count()
        over = self.balance + amount
        with pytest.raises(services.InsufficientFunds):
            services.charge(self._wallet(), amount=over)
        assert LedgerEntry.objects.count() == before

    @invariant()
    def balance_matches(self) -> None:
        if not hasattr(self, "wallet"):
            return
        account = self._wallet().ledger_account
        assert account.balance == self.balance
        assert account.balance >= 0

    def teardown(self) -> None:
        if hasattr(self, "org"):
            assert_ledger_balanced(self.org.id)


@pytest.mark.django_db
def test_wallets_match_model() -> None:
    run_state_machine_as_test(
        WalletMachine, settings=settings(max_examples=20, stateful_step_count=20, deadline=None)
    )
