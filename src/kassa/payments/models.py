"""Payments, refunds, saved payment methods, gateway accounts and inbound gateway events."""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from kassa.core.crypto import decrypt, encrypt
from kassa.core.ids import PrefixedIdField
from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.platform.hotcache import ClearingQuerySet


class Provider(models.TextChoices):
    SANDBOX = "sandbox", "Sandbox"
    STRIPE = "stripe", "Stripe"
    PAYME = "payme", "Payme"
    CLICK = "click", "Click"
    OCTO = "octo", "OCTO"


class GatewayAccount(models.Model):
    """A merchant's account at a payment provider, with its (encrypted) credentials."""

    class Status(models.TextChoices):
        # A context: Django's auth catalogue translates the bare words for permissions.
        ENABLED = "enabled", pgettext_lazy("gateway account", "Enabled")
        DISABLED = "disabled", pgettext_lazy("gateway account", "Disabled")

    id = PrefixedIdField("gwa")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="gateway_accounts"
    )
    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)
    test_mode = models.BooleanField(_("test mode"), default=True)
    currencies = models.JSONField(_("currencies"), default=list)
    is_default = models.BooleanField(
        _("default"), default=False, help_text=_("Used when a payment names no gateway account.")
    )
    credentials_encrypted = models.TextField(editable=False, default="")
    options = models.JSONField(_("options"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ENABLED
    )
    created_at = models.DateTimeField(_("created"), default=now, editable=False)
    updated_at = models.DateTimeField(_("updated"), default=now)

    # Cached (kassa.platform.hotcache): bulk writes clear the caches too.
    objects = ClearingQuerySet.as_manager()

    class Meta:
        verbose_name = _("gateway account")
        verbose_name_plural = _("gateway accounts")
        ordering = ["-id"]

    def __str__(self) -> str:
        mode = "test" if self.test_mode else "live"
        return f"{self.name or self.get_provider_display()} ({mode})"

    @property
    def credentials(self) -> dict[str, str]:
        """The decrypted credentials (a fresh dict each time). Decrypted once per instance
        and ciphertext: cached accounts serve many requests (kassa.payments.accounts)."""
        encrypted = self.credentials_encrypted
        if not encrypted:
            return {}
        cached = self.__dict__.get("_credentials_cache")
        if cached is None or cached[0] != encrypted:
            cached = (encrypted, json.loads(decrypt(encrypted)))
            self.__dict__["_credentials_cache"] = cached
        return dict(cached[1])

    def set_credentials(self, credentials: dict[str, str]) -> None:
        self.credentials_encrypted = encrypt(json.dumps(credentials, sort_keys=True))

    @property
    def enabled(self) -> bool:
        return self.status == self.Status.ENABLED


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    REQUIRES_ACTION = "requires_action", _("Requires action")
    PROCESSING = "processing", _("Processing")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELED = "canceled", _("Canceled")
    EXPIRED = "expired", _("Expired")


class PaymentMethod(models.Model):
    """A card (or other method) saved at a provider for later off-session charges."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        REMOVED = "removed", _("Removed")

    id = PrefixedIdField("pm")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payment_methods")
    gateway_account = models.ForeignKey(
        GatewayAccount, on_delete=models.PROTECT, related_name="payment_methods"
    )
    gateway_reference = models.CharField(max_length=255)
    gateway_customer_reference = models.CharField(max_length=255, blank=True)
    kind = models.CharField(_("type"), max_length=32, default="card")
    brand = models.CharField(_("brand"), max_length=32, blank=True)
    last4 = models.CharField(_("last 4"), max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created"), default=now, editable=False)

    class Meta:
        verbose_name = _("payment method")
        verbose_name_plural = _("payment methods")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway_account", "gateway_reference"], name="payment_method_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.brand or self.kind} •••• {self.last4}".strip()


class Payment(models.Model):
    # Every index is written on each insert and on each status change (a status change is
    # never a HOT update: status is indexed), so only the indexes that queries use exist.
    id = PrefixedIdField("pay")
    # Indexed by (organization, status, -id).
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    livemode = models.BooleanField(_("live"), default=False)
    amount = models.BigIntegerField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3)
    amount_refunded = models.BigIntegerField(_("amount refunded"), default=0)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    description = models.CharField(_("description"), max_length=500, blank=True)
    # What the payment is for ("generic", "booking", "wallet_topup"...) and the object it pays.
    purpose = models.CharField(_("purpose"), max_length=32, default="generic")
    purpose_id = models.CharField(_("pays for"), max_length=64, blank=True, db_index=True)
    status = models.CharField(
        _("status"), max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    gateway_account = models.ForeignKey(
        GatewayAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        db_index=False,  # payments are found by organization, reference or id
    )
    gateway_reference = models.CharField(
        _("gateway reference"), max_length=255, blank=True, db_index=True
    )
    payment_method = models.ForeignKey(
        PaymentMethod,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        db_index=False,
    )
    save_payment_method = models.BooleanField(default=False)
    off_session = models.BooleanField(default=False)
    return_url = models.URLField(_("return URL"), max_length=1000, blank=True)
    action_url = models.URLField(max_length=1000, blank=True)
    failure_code = models.CharField(_("failure code"), max_length=64, blank=True)
    failure_message = models.CharField(_("failure message"), max_length=500, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    expires_at = models.DateTimeField(_("checkout expires"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=now, editable=False)
    updated_at = models.DateTimeField(_("updated"), default=now)
    succeeded_at = models.DateTimeField(_("succeeded"), null=True, blank=True)
    # When the reconciliation poll last asked the provider about this payment.
    checked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["organization", "status", "-id"]),
            models.Index(fields=["status", "updated_at"]),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def amount_refundable(self) -> int:
        return self.amount - self.amount_refunded


class Refund(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    id = PrefixedIdField("re")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    gateway_reference = models.CharField(max_length=255, blank=True, db_index=True)
    failure_message = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=now, editable=False)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.id


class GatewayEvent(models.Model):
    """An inbound request from a provider, stored as received.

    Verified events have a unique (provider, external_id); a repeat is ignored. Requests that
    fail verification are kept for inspection without an external id, so a forger cannot
    occupy the id of a real event."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSED = "processed", _("Processed")
        IGNORED = "ignored", _("Ignored")
        FAILED = "failed", _("Failed")
        REJECTED = "rejected", _("Rejected (verification failed)")

    id = PrefixedIdField("gev")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    gateway_account = models.ForeignKey(
        GatewayAccount, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    provider = models.CharField(max_length=16, choices=Provider.choices)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    raw_type = models.CharField(_("type"), max_length=100, blank=True)
    payload = models.TextField(_("raw payload"))
    headers = models.JSONField(default=dict, blank=True)
    normalized = models.JSONField(default=dict, blank=True)
    verified = models.BooleanField(default=False)
    verification_error = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="gateway_events"
    )
    received_at = models.DateTimeField(_("received"), default=now)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    class Meta:
        verbose_name = _("gateway event")
        verbose_name_plural = _("gateway events")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="gateway_event_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.raw_type} {self.external_id or ''}".strip()

    def normalized_value(self, key: str) -> Any:
        return self.normalized.get(key)


# Connector tables belong to this app (see gateways/<name>/models.py).
from kassa.payments.gateways.click.models import ClickTransaction  # noqa: E402
from kassa.payments.gateways.octo.models import OctoPayment  # noqa: E402
from kassa.payments.gateways.payme.models import PaymeTransaction  # noqa: E402
from kassa.payments.gateways.sandbox.models import (  # noqa: E402
    SandboxCard,
    SandboxCharge,
    SandboxCheckout,
    SandboxRefund,
)

__all__ = [
    "ClickTransaction",
    "GatewayAccount",
    "GatewayEvent",
    "OctoPayment",
    "PaymeTransaction",
    "Payment",
    "PaymentMethod",
    "PaymentStatus",
    "Provider",
    "Refund",
    "SandboxCard",
    "SandboxCharge",
    "SandboxCheckout",
    "SandboxRefund",
]
