"""`kassa ledger verify`: recompute every cached balance from its entries and check every
transaction's sum. Works in chunks of ids so a progress bar can follow a large ledger; the
statements are the ledger repository's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Max

from kassa.ledger import repository
from kassa.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction

CHUNK = 20_000


@dataclass(frozen=True)
class Problem:
    kind: str
    object_id: int
    detail: str


def verify(progress: Callable[[int, int], None] | None = None) -> list[Problem]:
    """Every inconsistency found; an empty list means the ledger is sound."""
    problems: list[Problem] = []
    max_account = LedgerAccount.objects.aggregate(m=Max("id"))["m"] or 0
    max_txn = LedgerTransaction.objects.aggregate(m=Max("id"))["m"] or 0
    max_entry = LedgerEntry.objects.aggregate(m=Max("id"))["m"] or 0
    total = max_account + max_txn + max_entry
    for start in range(0, max_account, CHUNK):
        end = start + CHUNK
        for pk, cached, computed, floor, derived in repository.account_sums(start, end):
            if derived:
                # Its balance is the sum of its entries; nothing caches one.
                if cached != 0:
                    problems.append(
                        Problem("account_balance", pk, f"a derived balance, yet {cached} is cached")
                    )
                continue
            if cached != computed:
                problems.append(
                    Problem(
                        "account_balance",
                        pk,
                        f"cached balance {cached} but entries sum to {computed}",
                    )
                )
            if floor is not None and computed < floor:
                problems.append(
                    Problem("below_minimum", pk, f"balance {computed} is below {floor}")
                )
        for (
            entry_id,
            account_id,
            entry_currency,
            account_currency,
        ) in repository.entries_in_another_currency(start, end):
            problems.append(
                Problem(
                    "entry_currency",
                    entry_id,
                    f"entry in {entry_currency} on account {account_id} in {account_currency}",
                )
            )
        if progress:
            progress(min(end, max_account), total)
    for start in range(0, max_txn, CHUNK):
        end = start + CHUNK
        for pk, currency, total_amount, count in repository.transaction_sums(start, end):
            if total_amount != 0:
                problems.append(
                    Problem(
                        "transaction_sum",
                        pk,
                        f"entries in {currency} sum to {total_amount}, not 0",
                    )
                )
            elif count < 2:
                problems.append(
                    Problem("transaction_entries", pk, f"{count} entries; at least 2 needed")
                )
        for pk, organization_id in repository.transactions_without_organization(start, end):
            problems.append(
                Problem("transaction_organization", pk, f"no organization {organization_id}")
            )
        if progress:
            progress(max_account + min(end, max_txn), total)
    # The tables carry no foreign keys (docs/ledger.md): every entry must still have its
    # transaction and account, both of the same organization.
    for start in range(0, max_entry, CHUNK):
        end = start + CHUNK
        for (
            entry_id,
            txn_id,
            account_id,
            txn_org,
            account_org,
        ) in repository.entries_with_broken_references(start, end):
            if txn_org is None:
                detail = f"no transaction {txn_id}"
            elif account_org is None:
                detail = f"no account {account_id}"
            else:
                detail = f"transaction of {txn_org} on an account of {account_org}"
            problems.append(Problem("entry_reference", entry_id, detail))
        if progress:
            progress(max_account + max_txn + min(end, max_entry), total)
    return problems
