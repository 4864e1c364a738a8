"""The sandbox provider's own records: what a real provider would keep on its side.

The sandbox is a simulated payment provider that runs inside Kassa (its card page is served at
/sandbox/...). Its state lives here, apart from Kassa's payments, and reaches Kassa only through
signed events and the connector's API calls, like any real provider."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now


class SandboxCheckout(models.Model):
    token = models.CharField(max_length=64, primary_key=True)
    gateway_account_id = models.CharField(max_length=40)
    payment_id = models.CharField(max_length=40, db_index=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=500, blank=True)
    success_url = models.URLField(max_length=1000)
    cancel_url = models.URLField(max_length=1000)
    save_method = models.BooleanField(default=False)
    customer_reference = models.CharField(max_length=64, blank=True)
    locale = models.CharField(max_length=8, default="en")
    status = models.CharField(max_length=16, default="open")  # open, complete, expired
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.token


class SandboxCard(models.Model):
    token = models.CharField(max_length=64, primary_key=True)
    gateway_account_id = models.CharField(max_length=40)
    customer_reference = models.CharField(max_length=64)
    number = models.CharField(max_length=19)  # published test numbers only
    brand = models.CharField(max_length=16, default="visa")
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.token


class SandboxCharge(models.Model):
    id = models.CharField(max_length=64, primary_key=True)
    gateway_account_id = models.CharField(max_length=40)
    payment_id = models.CharField(max_length=40, db_index=True)
    idempotency_key = models.CharField(max_length=255, blank=True, db_index=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20)  # succeeded, failed, requires_action
    failure_code = models.CharField(max_length=64, blank=True)
    card = models.ForeignKey(SandboxCard, on_delete=models.SET_NULL, null=True, blank=True)
    checkout = models.ForeignKey(SandboxCheckout, on_delete=models.SET_NULL, null=True, blank=True)
    amount_refunded = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.id


class SandboxRefund(models.Model):
    id = models.CharField(max_length=64, primary_key=True)
    charge = models.ForeignKey(SandboxCharge, on_delete=models.PROTECT)
    idempotency_key = models.CharField(max_length=255, unique=True)
    amount = models.BigIntegerField()
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.id
