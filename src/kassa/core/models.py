"""Tenancy and cross-cutting records: organizations, staff roles, API keys, idempotency records,
the audit log and failed staff sign-ins."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from kassa.core.ids import PrefixedIdField
from kassa.platform.hotcache import ClearingQuerySet

LOCALES = [("en", "English"), ("de", "Deutsch"), ("ru", "Русский"), ("uz", "Oʻzbekcha")]


class Organization(models.Model):
    """A merchant: the unit of tenancy. Every other row belongs to exactly one."""

    id = PrefixedIdField("org")
    name = models.CharField(_("name"), max_length=200)
    default_currency = models.CharField(_("default currency"), max_length=3, default="UZS")
    timezone = models.CharField(_("time zone"), max_length=64, default="Asia/Tashkent")
    locale = models.CharField(_("locale"), max_length=8, choices=LOCALES, default="ru")
    # Legal details printed on invoices and receipts.
    legal_name = models.CharField(_("legal name"), max_length=200, blank=True)
    address_line1 = models.CharField(_("address"), max_length=200, blank=True)
    address_line2 = models.CharField(_("address (line 2)"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    vat_id = models.CharField(_("VAT ID"), max_length=32, blank=True)
    tax_number = models.CharField(_("tax number"), max_length=32, blank=True)
    email = models.EmailField(_("contact email"), blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    created_at = models.DateTimeField(_("created"), default=now, editable=False)

    # Cached (kassa.platform.hotcache): bulk writes clear the caches too.
    objects = ClearingQuerySet.as_manager()

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    FINANCE = "finance", _("Finance")
    VIEWER = "viewer", _("Viewer")


class Membership(models.Model):
    """A staff user's role in one organization."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.organization} · {self.role}"


class ApiKeyMode(models.TextChoices):
    TEST = "test", _("Test")
    LIVE = "live", _("Live")


class ApiKey(models.Model):
    """A secret key for the REST API. Only a SHA-256 of the key is stored; the key itself is
    shown once, when it is created."""

    id = PrefixedIdField("ak")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    mode = models.CharField(_("mode"), max_length=4, choices=ApiKeyMode.choices)
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    # Cached (kassa.platform.hotcache): bulk writes clear the caches too.
    objects = ClearingQuerySet.as_manager()

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or self.mode})"

    @property
    def livemode(self) -> bool:
        return self.mode == ApiKeyMode.LIVE

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The first response to an `Idempotency-Key`, replayed for 24 hours."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETE = "complete"

    # Indexed by the unique (organization, key) constraint.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices)
    locked_until = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.BinaryField(null=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return self.key


class ActorType(models.TextChoices):
    STAFF = "staff", _("Staff user")
    API_KEY = "api_key", _("API key")
    SYSTEM = "system", _("System")
    CUSTOMER = "customer", _("Customer")


class AuditLogEntry(models.Model):
    """Who did what to which object, why, and what it looked like before and after."""

    id = PrefixedIdField("aud")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_log"
    )
    actor_type = models.CharField(_("actor type"), max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(_("actor id"), max_length=64, blank=True)
    actor_label = models.CharField(_("actor"), max_length=200, blank=True)
    action = models.CharField(_("action"), max_length=100)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True, db_index=True)
    reason = models.TextField(_("reason"), blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("time"), default=now, db_index=True)

    class Meta:
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("audit log entries are append-only")
        super().save(*args, **kwargs)


class SignInFailure(models.Model):
    """One failed staff sign-in: the name tried and the address it came from. The lockout
    (kassa.core.signin_throttle) counts the recent ones per name and per address; rows older
    than a day are pruned hourly."""

    username = models.CharField(_("username"), max_length=254)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), default=now)

    class Meta:
        verbose_name = _("failed sign-in")
        verbose_name_plural = _("failed sign-ins")
        indexes = [
            models.Index(fields=["username", "created_at"], name="core_signin_fail_user"),
            models.Index(fields=["ip_address", "created_at"], name="core_signin_fail_ip"),
            models.Index(fields=["created_at"], name="core_signin_fail_time"),
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip_address or '?'} at {self.created_at:%Y-%m-%d %H:%M}"
