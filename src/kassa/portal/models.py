"""The portal's own rows: sign-in requests (single-use email links and rate limiting)."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from kassa.core.models import Organization
from kassa.customers.models import Customer


class SignInRequest(models.Model):
    """One "email me a sign-in link" request.

    Every request is a row, also for addresses that match no customer (those get no link and
    no token), so the rate limits count what was asked for, not what existed. Only a SHA-256
    of the link's token is stored."""

    email = models.EmailField(_("email"))
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(_("requested"), default=now, db_index=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    used_at = models.DateTimeField(_("used"), null=True, blank=True)

    class Meta:
        verbose_name = _("portal sign-in request")
        verbose_name_plural = _("portal sign-in requests")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["email", "created_at"], name="portal_signin_email"),
            models.Index(fields=["ip_address", "created_at"], name="portal_signin_ip"),
        ]

    def __str__(self) -> str:
        return f"{self.email} {self.created_at:%Y-%m-%d %H:%M}"
