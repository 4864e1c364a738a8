"""The event log: one row per state change a merchant's systems care about."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kassa.core.ids import PrefixedIdField
from kassa.core.models import Organization
from kassa.platform.hotcache import ClearingQuerySet


class Event(models.Model):
    id = PrefixedIdField("evt")
    # Indexed by the (organization, type, -id) and (organization, -id) indexes.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    type = models.CharField(_("type"), max_length=100)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    data = models.JSONField(_("data"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["organization", "-id"]),
            models.Index(fields=["organization", "type", "-id"]),
            models.Index(fields=["object_id"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class EndpointStatus(models.TextChoices):
    ENABLED = "enabled", _("enabled")
    DISABLED = "disabled", _("disabled")


class WebhookEndpoint(models.Model):
    """A merchant's URL that receives events, signed with the endpoint's secret."""

    id = PrefixedIdField("we")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    url = models.CharField(_("URL"), max_length=2048)
    description = models.CharField(_("description"), max_length=500, blank=True)
    # ["*"] or a list of catalogued event types.
    enabled_events = models.JSONField(_("enabled events"), default=list)
    status = models.CharField(
        _("status"), max_length=16, choices=EndpointStatus.choices, default=EndpointStatus.ENABLED
    )
    # Why it was disabled: "manual", "gone" (the receiver answered 410) or "failing" (5 days).
    disabled_reason = models.CharField(_("disabled reason"), max_length=32, blank=True)
    livemode = models.BooleanField(_("live mode"), default=False)
    # Encrypted at rest (kassa.core.crypto); the plain secret is shown on create and rotation.
    secret_encrypted = models.TextField(editable=False)
    # After a rotation the old secret keeps signing (a second signature) until this time.
    previous_secret_encrypted = models.TextField(editable=False, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The first failed attempt since the last success; 5 days of that disables the endpoint.
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    # Cached (kassa.platform.hotcache): bulk writes clear the caches too.
    objects = ClearingQuerySet.as_manager()

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["-id"]
        indexes = [models.Index(fields=["organization", "status"])]

    def __str__(self) -> str:
        return self.url

    def accepts(self, event_type: str) -> bool:
        if event_type == "ping":  # sent only to the endpoint being tested
            return False
        return "*" in self.enabled_events or event_type in self.enabled_events


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")


class WebhookDelivery(models.Model):
    """One event to one endpoint. The row is the outbox: a dispatcher claims due rows with a
    lease, so a delivery whose worker died is claimed again once the lease runs out."""

    id = PrefixedIdField("whd")
    # Both indexed by the (organization, -id) and (endpoint, -id) indexes.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempt_count = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_status_code = models.PositiveIntegerField(_("last status code"), null=True, blank=True)
    # A redelivery asked for by hand (API or admin); automatic deliveries are unique per
    # endpoint and event.
    manual = models.BooleanField(_("manual"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["endpoint", "-id"]),
            models.Index(fields=["organization", "-id"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event"],
                condition=models.Q(manual=False),
                name="webhookdelivery_once_per_endpoint",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, kept for the merchant's debugging."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField(_("time"), default=timezone.now)
    # None when no response came (timeout, refused connection, refused address).
    status_code = models.PositiveIntegerField(_("status code"), null=True, blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), default=0)
    response_body = models.TextField(_("response body (head)"), blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    succeeded = models.BooleanField(_("succeeded"), default=False)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.status_code or self.error}"
