"""Notifications: one row per message per channel and recipient, with its delivery state;
customers' channel preferences; recipients whose channel is paused after hard failures."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from kassa.core.ids import PrefixedIdField
from kassa.core.models import LOCALES, Organization
from kassa.customers.models import Customer


class Channel(models.TextChoices):
    # A context: Django's auth catalogue has "Email" as an address field ("E-Mail-Adresse").
    EMAIL = "email", pgettext_lazy("channel", "Email")
    SMS = "sms", _("SMS")
    PUSH = "push", _("Web push")
    WEBHOOK = "webhook", _("Customer webhook")


class NotificationStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    RETRYING = "retrying", _("Retrying")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    # Not sent on purpose: switched off by the customer, no address, or channel paused.
    SKIPPED = "skipped", _("Skipped")


class Notification(models.Model):
    id = PrefixedIdField("ntf")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="notifications"
    )
    type = models.CharField(_("type"), max_length=100)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    customer = models.ForeignKey(
        Customer,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
    )
    # An email address, an E.164 phone number, a customer id (push) or a URL (webhook).
    recipient = models.CharField(_("recipient"), max_length=500, blank=True)
    locale = models.CharField(_("locale"), max_length=8, choices=LOCALES)
    context = models.JSONField(_("context"), default=dict, blank=True)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=NotificationStatus.choices,
        default=NotificationStatus.QUEUED,
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    dedupe_key = models.CharField(_("dedupe key"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=now, editable=False)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    # The provider's id of the sent message ("twilio:SM...", "eskiz:<uuid>"), for support.
    provider_message_id = models.CharField(_("provider message id"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["organization", "-id"]),
            models.Index(fields=["organization", "dedupe_key"]),
            models.Index(fields=["status", "next_attempt_at"]),
        ]
        constraints = [
            # One message per dedupe key, channel and recipient: a repeated `notify` with the
            # same key finds the rows; two racing ones collide here and one rolls back.
            models.UniqueConstraint(
                fields=["organization", "dedupe_key", "channel", "recipient"],
                condition=~Q(dedupe_key=""),
                name="notification_dedupe_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.channel} {self.recipient}"


class NotificationPreference(models.Model):
    """A customer's choice for one notification type on one channel ("*" is every type)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    type = models.CharField(_("type"), max_length=100)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    enabled = models.BooleanField(_("enabled"))
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "type", "channel"], name="notification_preference_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.type} {self.channel}={self.enabled}"


class RecipientState(models.Model):
    """Hard failures of one address on one channel; at the threshold the channel is paused
    for that address (a bounced mailbox, an invalid number, an expired push subscription)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    recipient = models.CharField(_("recipient"), max_length=500)
    hard_failures = models.PositiveIntegerField(_("hard failures"), default=0)
    last_failure = models.TextField(_("last failure"), blank=True)
    paused_at = models.DateTimeField(_("paused"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("recipient state")
        verbose_name_plural = _("recipient states")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "channel", "recipient"], name="recipient_state_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.recipient}"


class PushSubscription(models.Model):
    """A browser's Web Push subscription for a customer (the portal creates them)."""

    id = PrefixedIdField("psub")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(_("endpoint"), max_length=1000)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    created_at = models.DateTimeField(_("created"), default=now)
    # Set when the push service answers 404/410: the browser dropped the subscription.
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("push subscription")
        verbose_name_plural = _("push subscriptions")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "endpoint"], name="push_subscription_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.endpoint[:60]}"


class CustomerWebhook(models.Model):
    """A customer's own callback URL, signed like webhook endpoints (Standard Webhooks)."""

    id = PrefixedIdField("cwh")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="notification_webhook"
    )
    url = models.URLField(_("URL"), max_length=1000)
    # whsec_..., encrypted at rest (kassa.core.crypto); shown once when the URL is set.
    secret = models.TextField(editable=False)
    created_at = models.DateTimeField(_("created"), default=now)
    # Set when the callback answers 410 Gone or the URL is removed; notify skips it then.
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer webhook")
        verbose_name_plural = _("customer webhooks")

    def __str__(self) -> str:
        return self.url


class VapidKey(models.Model):
    """The server's VAPID key pair for Web Push, made once on first start and kept.

    One row (pk=1) in the database rather than a file, so every `kassa serve` and `kassa
    worker` node signs with the same key that browsers subscribed with. The private key is
    encrypted at rest with the SECRET_KEY (kassa.core.crypto)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    # PEM (PKCS#8) of the P-256 private key, Fernet-encrypted.
    private_key = models.TextField()
    # The uncompressed P-256 point, URL-safe base64 without padding (the applicationServerKey).
    public_key = models.CharField(max_length=100)
    created_at = models.DateTimeField(_("created"), default=now)

    class Meta:
        verbose_name = _("VAPID key")
        verbose_name_plural = _("VAPID keys")

    def __str__(self) -> str:
        return self.public_key
