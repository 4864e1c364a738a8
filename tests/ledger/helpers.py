from __future__ import annotations

from django.db.models import Sum

from kassa.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction


def assert_ledger_balanced(organization_id: str | None = None) -> None:
    """Every transaction sums to zero per currency and every cached balance equals the sum of
    its entries: the check each money-flow test ends with."""
    transactions = LedgerTransaction.objects.all()
    accounts = LedgerAccount.objects.all()
    if organization_id:
        transactions = transactions.filter(organization_id=organization_id)
        accounts = accounts.filter(organization_id=organization_id)
    for txn in transactions:
        sums: dict[str, int] = {}
        count = 0
        for entry in txn.entries.all():
            sums[entry.currency] = sums.get(entry.currency, 0) + entry.amount
            count += 1
        assert count >= 2, f"transaction {txn.pk} has {count} entries"
        assert all(v == 0 for v in sums.values()), f"transaction {txn.pk} sums to {sums}"
    for account in accounts:
        total = LedgerEntry.objects.filter(account=account).aggregate(s=Sum("amount"))["s"] or 0
        if account.derived:  # nothing is cached; its balance is the sum
            assert account.balance == 0, f"derived account {account} caches {account.balance}"
            continue
        assert account.balance == total, (
            f"account {account} caches {account.balance}, entries {total}"
        )
        if account.min_balance is not None:
            assert account.balance >= account.min_balance


def account_balances(organization_id: str, *, nonzero: bool = False) -> dict[str, int]:
    """Every account's balance ("kind:owner" -> minor units), cached or derived alike."""
    from kassa.ledger.services import balance_of

    found = {
        f"{a.kind}:{a.owner_id}": balance_of(a.pk)
        for a in LedgerAccount.objects.filter(organization_id=organization_id)
    }
    return {k: v for k, v in found.items() if v or not nonzero}
