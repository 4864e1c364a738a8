"""Kassa's record of each Payme transaction (one attempt to pay one of our payments).

Payme creates the transaction (CreateTransaction) with its own 24-character id and its own
`time`; we answer with our `create_time` and our transaction id (this row's id, as a string),
and every later call (Perform, Cancel, Check, SetFiscalData) names Payme's id. Times are kept
exactly as sent to Payme (milliseconds), so a repeated call gets a byte-identical answer.

Two constraints make concurrent identical calls safe on any database: Payme's id is unique per
gateway account, and a payment has at most one active (state 1 or 2) transaction: the
one-time account rule."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _


class PaymeTransaction(models.Model):
    class State(models.IntegerChoices):
        CREATED = 1, _("Created (awaiting perform)")
        PERFORMED = 2, _("Performed")
        CANCELLED = -1, _("Cancelled before perform")
        CANCELLED_AFTER_PERFORM = -2, _("Cancelled after perform (refunded)")

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "core.Organization", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # Indexed by the unique (gateway account, Payme id) constraint.
    gateway_account = models.ForeignKey(
        "payments.GatewayAccount",
        on_delete=models.PROTECT,
        related_name="payme_transactions",
        db_index=False,
    )
    payment = models.ForeignKey(
        "payments.Payment", on_delete=models.PROTECT, related_name="payme_transactions"
    )
    payme_id = models.CharField(_("Payme transaction id"), max_length=64)
    payme_time = models.BigIntegerField(_("Payme time (ms)"))
    amount = models.BigIntegerField(_("amount (tiyin)"))
    account = models.JSONField(_("account (as sent by Payme)"), default=dict)
    state = models.SmallIntegerField(choices=State.choices, default=State.CREATED)
    # Payme's cancel reason, stored verbatim (1-5 and 10 are documented; 6-9 are seen).
    reason = models.SmallIntegerField(null=True, blank=True)
    create_time = models.BigIntegerField(_("create time (ms)"))
    perform_time = models.BigIntegerField(_("perform time (ms)"), default=0)
    cancel_time = models.BigIntegerField(_("cancel time (ms)"), default=0)
    # SetFiscalData, by type: {"PERFORM": {...}, "CANCEL": {...}}, as Payme sent it.
    fiscal_data = models.JSONField(_("fiscal data"), default=dict, blank=True)
    refund = models.ForeignKey(
        "payments.Refund", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name = _("Payme transaction")
        verbose_name_plural = _("Payme transactions")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway_account", "payme_id"], name="payme_transaction_once"
            ),
            models.UniqueConstraint(
                fields=["payment"],
                condition=Q(state__in=[1, 2]),
                name="payme_one_active_per_payment",
            ),
        ]
        indexes = [models.Index(fields=["gateway_account", "payme_time"])]

    def __str__(self) -> str:
        return f"payme {self.payme_id}"
