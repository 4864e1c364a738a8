"""The double-entry ledger.

An account's balance is the sum of its entries (positive raises it, negative lowers it); a
transaction's entries sum to zero in its currency. Entries and transactions are never updated
or deleted; a correction is a reversing transaction. The cached `balance` on an account is
written in the same database transaction as the entries that change it.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kassa.core.models import Organization


class AppendOnlyError(Exception):
    pass


class LedgerAccount(models.Model):
    # Indexed by the unique (organization, kind, owner_id, currency) constraint.
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    currency = models.CharField(_("currency"), max_length=3)
    # What the account is for, e.g. "wallet", "gateway_clearing", "booking". Owner ids tie
    # an account to the object whose money it holds ("wal_...", "gwa_...").
    kind = models.CharField(_("kind"), max_length=40)
    owner_id = models.CharField(_("owner"), max_length=64, blank=True, default="")
    name = models.CharField(_("name"), max_length=200, blank=True)
    # The lowest balance a posting may leave: None for no limit (clearing and revenue
    # accounts), 0 for "may not go negative", a negative number for a credit limit.
    min_balance = models.BigIntegerField(_("lowest allowed balance"), null=True, blank=True)
    # The cached balance, moved in the same transaction as the entries under a row lock; 0
    # and never moved on an account whose balance is derived.
    balance = models.BigIntegerField(_("balance"), default=0, editable=False)
    # A house account (clearing, revenue, usage): its balance is the sum of its entries,
    # computed when asked for. Postings neither lock nor update it, so the postings of a whole
    # organization do not queue on one row (docs/ledger.md). It has no floor.
    derived = models.BooleanField(_("derived balance"), default=False, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "ledger_account"
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "owner_id", "currency"],
                name="ledger_account_unique",
            ),
            # The database itself refuses a balance below the floor, whoever writes it.
            models.CheckConstraint(
                condition=models.Q(min_balance__isnull=True)
                | models.Q(balance__gte=models.F("min_balance")),
                name="ledger_account_min_balance",
            ),
            models.CheckConstraint(
                condition=models.Q(derived=False) | models.Q(min_balance__isnull=True),
                name="ledger_account_derived_no_floor",
            ),
        ]

    def __str__(self) -> str:
        label = self.name or f"{self.kind}:{self.owner_id}" if self.owner_id else self.kind
        return f"{label} ({self.currency})"


class LedgerTransaction(models.Model):
    # Indexed by the unique (organization, idempotency_key) constraint. No FOREIGN KEY
    # constraint in the database here nor on the entries (docs/ledger.md, "No foreign keys on
    # the hot tables"): the posting statement checks every reference, and ledger rows are
    # never deleted.
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(_("kind"), max_length=40)
    # The business object this transaction records (a payment, refund, charge...).
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255)
    description = models.CharField(_("description"), max_length=500, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    # At most one reversal per transaction (a partial unique index: most rows have none).
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        verbose_name=_("reverses"),
        db_index=False,
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now, editable=False)

    class Meta:
        db_table = "ledger_transaction"
        verbose_name = _("ledger transaction")
        verbose_name_plural = _("ledger transactions")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"], name="ledger_transaction_idem"
            ),
            models.UniqueConstraint(
                fields=["reverses"],
                condition=models.Q(reverses__isnull=False),
                name="ledger_transaction_reversed_once",
            ),
        ]
        indexes = [models.Index(fields=["reference"], name="ledger_transaction_ref_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference or self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("ledger transactions are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("ledger transactions are append-only")


class LedgerEntry(models.Model):
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries", db_constraint=False
    )
    # Indexed by ledger_entry_account_idx (account, id), which also serves FK lookups.
    account = models.ForeignKey(
        LedgerAccount,
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
        db_constraint=False,
    )
    amount = models.BigIntegerField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3)
    # None on an account whose balance is derived.
    balance_after = models.BigIntegerField(_("balance after"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, editable=False)

    class Meta:
        db_table = "ledger_entry"
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "id"], name="ledger_entry_account_idx")]

    def __str__(self) -> str:
        return f"{self.amount:+d} {self.currency}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("ledger entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("ledger entries are append-only")
