"""Kassa's record of each OCTO payment (one attempt to pay one of our payments through OCTO).

`shop_transaction_id` is what OCTO dedupes on: the Kassa payment id for the first attempt.
OCTO fixes every parameter on the first prepare_payment and returns the same payment for the
same id, so a payment whose OCTO attempt ended (canceled, failed) gets a new attempt with
`<payment id>-<n>` (n = 2, 3, ...). `status` is OCTO's last status as read from OCTO itself
(a status call, prepare_payment or set_accept), never from an unverified notification.
`capture` follows a two-stage payment's hold: what Kassa decided and whether OCTO confirmed."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _


class OctoPayment(models.Model):
    class Capture(models.TextChoices):
        NONE = "", _("No hold")
        HELD = "held", _("Held, waiting for a decision")
        CAPTURE_REQUESTED = "capture_requested", _("Capture requested")
        CAPTURED = "captured", _("Captured")
        CANCEL_REQUESTED = "cancel_requested", _("Cancel requested")
        CANCELED = "canceled", _("Hold canceled")

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "core.Organization", on_delete=models.PROTECT, related_name="+"
    )
    gateway_account = models.ForeignKey(
        "payments.GatewayAccount", on_delete=models.PROTECT, related_name="octo_payments"
    )
    payment = models.ForeignKey(
        "payments.Payment", on_delete=models.PROTECT, related_name="octo_payments"
    )
    attempt = models.PositiveIntegerField(default=1)
    shop_transaction_id = models.CharField(_("shop transaction id"), max_length=64)
    octo_payment_uuid = models.CharField(_("OCTO payment UUID"), max_length=64, blank=True)
    status = models.CharField(_("OCTO status"), max_length=32, default="created")
    amount = models.BigIntegerField(_("amount"))  # minor units, as sent in total_sum
    currency = models.CharField(_("currency"), max_length=3)
    auto_capture = models.BooleanField(_("auto capture"), default=True)
    test = models.BooleanField(_("test payment"), default=True)
    pay_url = models.URLField(_("payment page"), max_length=1000, blank=True)
    capture = models.CharField(
        _("capture state"), max_length=20, choices=Capture.choices, default="", blank=True
    )
    # The accept_status Kassa answered to OCTO's waiting_for_capture notification, if any.
    accept_answer = models.CharField(max_length=10, blank=True)
    held_at = models.DateTimeField(_("held"), null=True, blank=True)
    checked_at = models.DateTimeField(_("status read"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=now, editable=False)
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("OCTO payment")
        verbose_name_plural = _("OCTO payments")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway_account", "shop_transaction_id"], name="octo_payment_once"
            )
        ]
        indexes = [
            models.Index(fields=["payment", "-attempt"]),
            models.Index(fields=["octo_payment_uuid"]),
            models.Index(fields=["capture", "held_at"]),
        ]

    def __str__(self) -> str:
        return f"octo {self.shop_transaction_id} ({self.status})"
