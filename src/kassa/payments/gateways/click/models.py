"""Kassa's record of each Click transaction (one payment attempt in Click's system).

Click calls Prepare, then Complete, for every attempt (`click_trans_id`) to pay one of our
payments (`merchant_trans_id` is the Kassa payment id). The row's own id is the
`merchant_prepare_id` Kassa issues at Prepare and, once confirmed, the `merchant_confirm_id`.
A `click_trans_id` is unique per gateway account, which is what makes a repeated Complete
unable to pay twice."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _


class ClickTransaction(models.Model):
    class Status(models.TextChoices):
        PREPARED = "prepared", _("Prepared")
        CONFIRMED = "confirmed", _("Confirmed")
        CANCELLED = "cancelled", _("Cancelled")

    # BigAutoField: small sequential integers fit Click's `int` merchant_prepare_id.
    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "core.Organization", on_delete=models.PROTECT, related_name="+"
    )
    gateway_account = models.ForeignKey(
        "payments.GatewayAccount", on_delete=models.PROTECT, related_name="click_transactions"
    )
    payment = models.ForeignKey(
        "payments.Payment", on_delete=models.PROTECT, related_name="click_transactions"
    )
    click_trans_id = models.BigIntegerField(_("Click transaction id"))
    click_paydoc_id = models.BigIntegerField(_("Click payment document id"))
    amount = models.CharField(_("amount (so'm, as received)"), max_length=40)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PREPARED)
    merchant_confirm_id = models.BigIntegerField(null=True, blank=True)
    # The last `error` and `error_note` Click sent for this transaction (0 = fine).
    click_error = models.IntegerField(default=0)
    click_error_note = models.CharField(max_length=500, blank=True)
    sign_time = models.CharField(_("Click sign time"), max_length=32)
    # When Click last prepared it; a prepared attempt older than the account's
    # prepare_timeout_minutes no longer reserves the payment.
    prepared_at = models.DateTimeField(default=now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name = _("Click transaction")
        verbose_name_plural = _("Click transactions")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway_account", "click_trans_id"], name="click_transaction_once"
            )
        ]
        indexes = [models.Index(fields=["payment", "status"])]

    def __str__(self) -> str:
        return f"click {self.click_trans_id}"
