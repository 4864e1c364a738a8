"""`kassa ledger verify`: recompute every cached balance from its entries and check every
transaction's sum. Works in chunks of accounts so a progress bar can follow a large ledger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Max

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
    with connection.cursor() as cursor:
        for start in range(0, max_account, CHUNK):
            end = start + CHUNK
            cursor.execute(
                "SELECT a.id, a.balance, COALESCE(SUM(e.amount), 0), a.min_balance, a.derived"
                " FROM ledger_account a LEFT JOIN ledger_entry e ON e.account_id = a.id"
                " WHERE a.id > %s AND a.id <= %s"
                " GROUP BY a.id, a.balance, a.min_balance, a.derived",
                [start, end],
            )
            for pk, cached, computed, floor, derived in cursor.fetchall():
                if derived:
                    # Its balance is the sum of its entries; nothing caches one.
                    if cached != 0:
                        problems.append(
                            Problem(
                                "account_balance",
                                pk,
                                f"a derived balance, yet {cached} is cached",
                            )
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
            cursor.execute(
                "SELECT e.id, e.account_id, e.currency, a.currency FROM ledger_entry e"
                " JOIN ledger_account a ON a.id = e.account_id"
                " WHERE e.account_id > %s AND e.account_id <= %s AND e.currency <> a.currency",
                [start, end],
            )
            for entry_id, account_id, entry_currency, account_currency in cursor.fetchall():
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
            cursor.execute(
                "SELECT t.id, e.currency, COALESCE(SUM(e.amount), 0), COUNT(e.id)"
                " FROM ledger_transaction t LEFT JOIN ledger_entry e ON e.transaction_id = t.id"
                " WHERE t.id > %s AND t.id <= %s GROUP BY t.id, e.currency",
                [start, end],
            )
            for pk, currency, total_amount, count in cursor.fetchall():
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
            cursor.execute(
                "SELECT t.id, t.organization_id FROM ledger_transaction t"
                " LEFT JOIN core_organization o ON o.id = t.organization_id"
                " WHERE t.id > %s AND t.id <= %s AND o.id IS NULL",
                [start, end],
            )
            for pk, organization_id in cursor.fetchall():
                problems.append(
                    Problem("transaction_organization", pk, f"no organization {organization_id}")
                )
            if progress:
                progress(max_account + min(end, max_txn), total)
        # The tables carry no foreign keys (docs/ledger.md): every entry must still have its
        # transaction and account, both of the same organization.
        for start in range(0, max_entry, CHUNK):
            end = start + CHUNK
            cursor.execute(
                "SELECT e.id, e.transaction_id, e.account_id, t.organization_id,"
                " a.organization_id FROM ledger_entry e"
                " LEFT JOIN ledger_transaction t ON t.id = e.transaction_id"
                " LEFT JOIN ledger_account a ON a.id = e.account_id"
                " WHERE e.id > %s AND e.id <= %s"
                " AND (t.id IS NULL OR a.id IS NULL OR t.organization_id <> a.organization_id)",
                [start, end],
            )
            for entry_id, txn_id, account_id, txn_org, account_org in cursor.fetchall():
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
