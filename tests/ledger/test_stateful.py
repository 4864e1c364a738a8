"""The ledger against a simple in-memory model, driven by Hypothesis."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.db.models import Sum
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from kassa.ledger import services as ledger
from kassa.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from kassa.ledger.services import (
    InsufficientFunds,
    LedgerIdempotencyConflict,
    Posting,
    TransferSpec,
)
from tests.conftest import make_org

FLOORS = [None, 0, 0, -300]  # clearing account, two wallets, a wallet with a credit limit
KEYS = st.sampled_from([f"k{i}" for i in range(12)])
AMOUNTS = st.integers(min_value=1, max_value=500)
ACCOUNT = st.integers(min_value=0, max_value=len(FLOORS) - 1)


class LedgerMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.org = make_org("Stateful")
        self.accounts = [
            ledger.get_or_create_account(
                self.org.id, kind="acct", owner_id=str(i), currency="EUR", min_balance=floor
            )
            for i, floor in enumerate(FLOORS)
        ]
        self.balances = [0] * len(FLOORS)
        self.posted: dict[str, Counter[Posting]] = {}
        self.transactions: dict[str, int] = {}
        self.reversed: set[str] = set()

    # -- model helpers ---------------------------------------------------------------------
    def _spec(self, key: str, src: int, dst: int, amount: int) -> TransferSpec:
        return ledger.transfer(
            kind="t",
            idempotency_key=key,
            source=self.accounts[src],
            destination=self.accounts[dst],
            amount=amount,
        )

    def _apply_model(self, specs: list[TransferSpec]) -> str:
        """What the ledger should do: 'ok', 'conflict' or 'insufficient'; updates the model on ok."""
        # Order of refusals: duplicate keys inside the batch, then the balances the fresh
        # postings would leave, then keys reused from earlier postings with other postings.
        seen: dict[str, Counter[Posting]] = {}
        for spec in specs:
            postings = Counter(spec.postings)
            if spec.idempotency_key in seen and seen[spec.idempotency_key] != postings:
                return "conflict"
            seen[spec.idempotency_key] = postings
        balances = list(self.balances)
        index = {a.pk: i for i, a in enumerate(self.accounts)}
        unique = dict((s.idempotency_key, s) for s in specs)
        fresh = [s for s in unique.values() if s.idempotency_key not in self.posted]
        for spec in fresh:
            for p in spec.postings:
                balances[index[p.account_id]] += p.amount
        # A batch is atomic: only the balances it leaves behind must respect the floors.
        for i, floor in enumerate(FLOORS):
            if floor is not None and balances[i] < floor and balances[i] < self.balances[i]:
                return "insufficient"
        for key, spec in unique.items():
            if key in self.posted and self.posted[key] != Counter(spec.postings):
                return "conflict"
        self.balances = balances
        for spec in fresh:
            self.posted[spec.idempotency_key] = Counter(spec.postings)
        return "ok"

    def _post(self, specs: list[TransferSpec]) -> None:
        before_count = LedgerTransaction.objects.filter(organization=self.org).count()
        before_balances = self._db_balances()
        snapshot = (list(self.balances), dict(self.posted))
        expected = self._apply_model(specs)
        try:
            results = ledger.post_batch(self.org.id, specs)
        except LedgerIdempotencyConflict:
            assert expected == "conflict"
        except InsufficientFunds:
            assert expected == "insufficient"
        else:
            assert expected == "ok", expected
            for spec, result in zip(specs, results, strict=True):
                self.transactions.setdefault(spec.idempotency_key, result.transaction_id)
                assert result.transaction_id == self.transactions[spec.idempotency_key]
            return
        # A refused operation changes nothing.
        self.balances, self.posted = snapshot
        assert self._db_balances() == before_balances
        assert LedgerTransaction.objects.filter(organization=self.org).count() == before_count

    def _db_balances(self) -> list[int]:
        values = dict(
            LedgerAccount.objects.filter(pk__in=[a.pk for a in self.accounts]).values_list(
                "pk", "balance"
            )
        )
        return [values[a.pk] for a in self.accounts]

    # -- rules -----------------------------------------------------------------------------
    @rule(key=KEYS, src=ACCOUNT, dst=ACCOUNT, amount=AMOUNTS)
    def transfer(self, key: str, src: int, dst: int, amount: int) -> None:
        if src != dst:
            self._post([self._spec(key, src, dst, amount)])

    @rule(items=st.lists(st.tuples(KEYS, ACCOUNT, ACCOUNT, AMOUNTS), min_size=1, max_size=5))
    def batch(self, items: list[tuple[str, int, int, int]]) -> None:
        specs = [self._spec(k, s, d, a) for k, s, d, a in items if s != d]
        if specs:
            self._post(specs)

    @rule(data=st.data())
    def reverse(self, data: Any) -> None:
        candidates = sorted(
            k
            for k in self.posted
            if k in self.transactions and k not in self.reversed and not k.startswith("rev-")
        )
        if not candidates:
            return
        key = data.draw(st.sampled_from(candidates))
        postings = [Posting(p.account_id, -p.amount) for p in self.posted[key].elements()]
        spec = TransferSpec(
            "reversal", f"rev-{key}", tuple(postings), reverses_id=self.transactions[key]
        )
        before = list(self.balances)
        expected = self._apply_model([spec])
        try:
            result = ledger.reverse(
                self.org.id, self.transactions[key], idempotency_key=f"rev-{key}"
            )
        except InsufficientFunds:
            assert expected == "insufficient"
            self.balances = before
            return
        assert expected == "ok"
        self.transactions[f"rev-{key}"] = result.transaction_id
        self.reversed.add(key)

    # -- invariants ------------------------------------------------------------------------
    @invariant()
    def balances_match_model(self) -> None:
        assert self._db_balances() == self.balances

    @invariant()
    def cached_balances_equal_entries_and_respect_floors(self) -> None:
        for account, floor in zip(self.accounts, FLOORS, strict=True):
            total = LedgerEntry.objects.filter(account=account).aggregate(s=Sum("amount"))["s"] or 0
            balance = LedgerAccount.objects.get(pk=account.pk).balance
            assert balance == total
            if floor is not None:
                assert balance >= floor

    @invariant()
    def every_transaction_sums_to_zero(self) -> None:
        sums = (
            LedgerEntry.objects.filter(transaction__organization=self.org)
            .values("transaction_id")
            .annotate(s=Sum("amount"))
        )
        assert all(row["s"] == 0 for row in sums)
        assert LedgerTransaction.objects.filter(organization=self.org).count() == len(
            self.transactions
        )


@pytest.mark.django_db
def test_ledger_matches_model() -> None:
    run_state_machine_as_test(
        LedgerMachine, settings=settings(max_examples=25, stateful_step_count=25, deadline=None)
    )
