"""`kassa ledger verify` finds every kind of corruption it checks for, on every database (its
statements live in the ledger's repository). Corruptions are written past the services, the
way a broken writer would."""

from __future__ import annotations

import pytest

from kassa.ledger import services as ledger
from kassa.ledger.models import LedgerEntry, LedgerTransaction
from kassa.ledger.verify import verify
from tests.conftest import make_org

pytestmark = pytest.mark.django_db


def _corrupt_transaction(org_id: str, key: str, legs: list[tuple[int, int, str]]) -> int:
    txn = LedgerTransaction.objects.create(organization_id=org_id, kind="bad", idempotency_key=key)
    for account, amount, currency in legs:
        LedgerEntry.objects.create(
            transaction=txn, account_id=account, amount=amount, currency=currency
        )
    return txn.pk


def test_verify_reports_each_kind_of_problem() -> None:
    org = make_org()
    external = ledger.account_id(org.id, kind="external", currency="UZS")
    wallet = ledger.account_id(org.id, kind="wallet", owner_id="w", currency="UZS", min_balance=0)
    for n in range(2):
        ledger.post(
            org.id,
            ledger.transfer(
                kind="t", idempotency_key=f"k{n}", source=external, destination=wallet, amount=100
            ),
        )
    seen: list[tuple[int, int]] = []
    assert verify(lambda done, total: seen.append((done, total))) == []
    assert seen and seen[-1][0] == seen[-1][1]

    # Entries in a currency other than their account's (they still sum to zero).
    foreign_currency = _corrupt_transaction(
        org.id, "eur", [(external, 5, "EUR"), (external, -5, "EUR")]
    )
    # Entries that take the wallet below its floor, past its cached balance.
    below = _corrupt_transaction(org.id, "below", [(wallet, -300, "UZS"), (external, 300, "UZS")])
    # A transaction without entries, and one whose organization does not exist.
    empty = _corrupt_transaction(org.id, "empty", [])
    orphan = _corrupt_transaction("org_gone", "orphan", [])

    found = sorted((p.kind, p.object_id) for p in verify())
    currency_entries = sorted(
        LedgerEntry.objects.filter(transaction_id=foreign_currency).values_list("id", flat=True)
    )
    assert found == sorted(
        [
            ("account_balance", external),
            ("account_balance", wallet),
            ("below_minimum", wallet),
            *(("entry_currency", pk) for pk in currency_entries),
            ("transaction_entries", empty),
            ("transaction_entries", orphan),
            ("transaction_organization", orphan),
        ]
    )
    assert below not in {pk for kind, pk in found if kind.startswith("transaction")}
