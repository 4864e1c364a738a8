"""The customer record."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from kassa.core.ids import PrefixedIdField
from kassa.core.models import LOCALES, Organization


class Customer(models.Model):
    id = PrefixedIdField("cus")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="customers"
    )
    email = models.EmailField(_("email"), blank=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    locale = models.CharField(_("locale"), max_length=8, choices=LOCALES, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=now, editable=False)

    class Meta:
        # The model moved here from kassa.core; its table, and the name of its index, stay what
        # core created, so the move changed Django's state only (customers 0001, core 0005).
        db_table = "core_customer"
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["organization", "email"], name="core_custom_organiz_041385_idx")
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.id

    @property
    def preferred_locale(self) -> str:
        return self.locale or self.organization.locale
