"""Prepaid wallets: the wallet, its organization's settings, top-ups, auto top-up attempts,
low-balance alerts and staff adjustments.

A wallet's balance is the balance of its ledger account (kind "wallet", owner the wallet id);
charges, bonuses, reversals and adjustments are ledger transactions on that account and are
not copied into tables of their own (the ledger is the history).
"""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from kassa.core.ids import PrefixedIdField
from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.ledger.models import LedgerAccount, LedgerEntry

DEFAULT_COOLDOWN_MINUTES = 60
DEFAULT_DAILY_AUTO_TOPUPS = 3


class WalletSettings(models.Model):
    """An organization's wallet rules for one currency (defaults apply without a row)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(_("currency"), max_length=3)
    # How far below zero a wallet may go (0: never negative). Minor units, >= 0.
    credit_limit = models.BigIntegerField(_("credit limit"), default=0)
    min_topup = models.BigIntegerField(_("minimum top-up"), default=1)
    max_topup = models.BigIntegerField(_("maximum top-up"), null=True, blank=True)
    # [{"min_amount": 5000, "basis_points": 500}, ...] sorted by min_amount; empty: no bonus.
    bonus_tiers = models.JSONField(_("bonus tiers"), default=list, blank=True)
    auto_topup_cooldown_minutes = models.PositiveIntegerField(
        _("auto top-up cooldown (minutes)"), default=DEFAULT_COOLDOWN_MINUTES
    )
    auto_topup_daily_limit = models.PositiveIntegerField(
        _("auto top-ups per wallet per day"), default=DEFAULT_DAILY_AUTO_TOPUPS
    )
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("wallet settings")
        verbose_name_plural = _("wallet settings")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "currency"], name="wallet_settings_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.currency}"


class Wallet(models.Model):
    id = PrefixedIdField("wal")
    # Indexed by the unique (organization, customer, currency) constraint.
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="wallets")
    currency = models.CharField(_("currency"), max_length=3)
    ledger_account = models.OneToOneField(
        LedgerAccount, on_delete=models.PROTECT, related_name="+", editable=False
    )
    # Absolute balances (minor units) below which the customer is warned, once per crossing.
    low_balance_thresholds = models.JSONField(_("low-balance alerts"), default=list, blank=True)
    auto_topup_enabled = models.BooleanField(_("auto top-up"), default=False)
    auto_topup_threshold = models.BigIntegerField(_("auto top-up below"), default=0)
    auto_topup_amount = models.BigIntegerField(_("auto top-up amount"), default=0)
    auto_topup_payment_method = models.ForeignKey(
        "payments.PaymentMethod",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("auto top-up payment method"),
    )
    auto_topup_failures = models.PositiveSmallIntegerField(
        _("consecutive auto top-up failures"), default=0
    )
    auto_topup_disabled_reason = models.CharField(
        _("auto top-up disabled because"), max_length=200, blank=True
    )
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=now, editable=False)

    class Meta:
        verbose_name = _("wallet")
        verbose_name_plural = _("wallets")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "customer", "currency"], name="wallet_one_per_currency"
            )
        ]
        indexes = [
            models.Index(
                fields=["auto_topup_enabled"],
                name="wallet_auto_topup_idx",
                condition=models.Q(auto_topup_enabled=True),
            )
        ]

    def __str__(self) -> str:
        return self.id


class TopUpStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class TopUp(models.Model):
    """Money paid into a wallet through a payment (checkout or an auto top-up charge)."""

    class Source(models.TextChoices):
        CHECKOUT = "checkout", _("Checkout")
        AUTO = "auto", _("Auto top-up")

    id = PrefixedIdField("wtu")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="topups")
    amount = models.BigIntegerField(_("amount"))
    # Fixed when the top-up is created (the tiers in force then), posted on success.
    bonus_amount = models.BigIntegerField(_("bonus"), default=0)
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(
        _("status"), max_length=16, choices=TopUpStatus.choices, default=TopUpStatus.PENDING
    )
    source = models.CharField(
        _("source"), max_length=16, choices=Source.choices, default=Source.CHECKOUT
    )
    payment = models.OneToOneField(
        "payments.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=now, editable=False)
    succeeded_at = models.DateTimeField(_("succeeded"), null=True, blank=True)

    class Meta:
        verbose_name = _("top-up")
        verbose_name_plural = _("top-ups")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.id


class AutoTopUpAttempt(models.Model):
    class Status(models.TextChoices):
        IN_FLIGHT = "in_flight", _("In flight")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        REQUIRES_ACTION = "requires_action", _("Customer asked to confirm")

    class Trigger(models.TextChoices):
        CHARGE = "charge", _("A charge crossed the threshold")
        MONITOR = "monitor", _("Periodic monitor")

    id = PrefixedIdField("wat")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="auto_topups")
    amount = models.BigIntegerField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.IN_FLIGHT
    )
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices)
    balance_at_start = models.BigIntegerField(_("balance at start"))
    topup = models.OneToOneField(
        TopUp, on_delete=models.PROTECT, null=True, blank=True, related_name="auto_attempt"
    )
    failure_code = models.CharField(_("failure code"), max_length=64, blank=True)
    failure_message = models.CharField(_("failure message"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("started"), default=now, editable=False)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("auto top-up attempt")
        verbose_name_plural = _("auto top-up attempts")
        ordering = ["-id"]
        constraints = [
            # Never two in flight for one wallet, whoever starts them.
            models.UniqueConstraint(
                fields=["wallet"],
                condition=models.Q(status="in_flight"),
                name="wallet_one_auto_topup_in_flight",
            )
        ]
        indexes = [models.Index(fields=["wallet", "created_at"], name="wallet_auto_topup_time")]

    def __str__(self) -> str:
        return self.id


class LowBalanceAlert(models.Model):
    """One downward crossing of a threshold (the notification and event it caused)."""

    id = PrefixedIdField("wla")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="alerts")
    threshold = models.BigIntegerField(_("threshold"))
    balance = models.BigIntegerField(_("balance"))
    urgency = models.CharField(_("urgency"), max_length=16)
    created_at = models.DateTimeField(_("time"), default=now, editable=False)

    class Meta:
        verbose_name = _("low-balance alert")
        verbose_name_plural = _("low-balance alerts")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.id


class Adjustment(models.Model):
    """A staff correction of a balance, with its reason (also in the audit log)."""

    id = PrefixedIdField("wadj")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="adjustments")
    amount = models.BigIntegerField(_("amount"), help_text=_("Positive credits, negative debits."))
    currency = models.CharField(_("currency"), max_length=3)
    reason = models.CharField(_("reason"), max_length=500)
    created_by = models.CharField(_("by"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("time"), default=now, editable=False)

    class Meta:
        verbose_name = _("adjustment")
        verbose_name_plural = _("adjustments")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.id


class WalletTransaction(LedgerEntry):
    """A ledger entry on a wallet account, as the admin lists them (no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("wallet transaction")
        verbose_name_plural = _("wallet transactions")
        ordering = ["-id"]
