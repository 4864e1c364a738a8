"""Bookings with a balance due, their single-use payment links, reminders, per-organization
reminder settings, and the database rate limiter of the pay pages.

A booking's paid amount is never stored on the booking: it is the balance of the booking's
ledger account (kind "booking", owner the booking id), read with `with_amounts()`. The
deposit, every payment and every refund move that balance through the ledger, so the paid
amount, the balance due and the status cannot disagree with the books.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from kassa.core.ids import PrefixedIdField
from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.ledger.models import LedgerAccount
from kassa.payments.models import Payment

BOOKING_ACCOUNT_KIND = "booking"


class BookingStatus(models.TextChoices):
    UNPAID = "unpaid", _("Unpaid")
    PARTIALLY_PAID = "partially_paid", _("Partially paid")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_STATUSES = (BookingStatus.UNPAID, BookingStatus.PARTIALLY_PAID)


def paid_expression() -> Coalesce:
    """The booking ledger account's balance (0 while it has none), as a subquery."""
    balance = LedgerAccount.objects.filter(
        organization_id=OuterRef("organization_id"),
        kind=BOOKING_ACCOUNT_KIND,
        owner_id=OuterRef("id"),
        currency=OuterRef("currency"),
    ).values("balance")[:1]
    return Coalesce(Subquery(balance), Value(0), output_field=models.BigIntegerField())


class BookingQuerySet(models.QuerySet["Booking"]):
    def with_amounts(self) -> BookingQuerySet:
        """Annotate `paid`, `due` and `derived_status` from the ledger."""
        return self.annotate(paid=paid_expression()).annotate(
            due=Greatest(F("total_amount") - F("paid"), Value(0)),
            derived_status=Case(
                When(cancelled_at__isnull=False, then=Value(BookingStatus.CANCELLED.value)),
                When(paid__gte=F("total_amount"), then=Value(BookingStatus.PAID.value)),
                When(paid__gt=0, then=Value(BookingStatus.PARTIALLY_PAID.value)),
                default=Value(BookingStatus.UNPAID.value),
                output_field=models.CharField(),
            ),
        )

    def open(self) -> BookingQuerySet:
        """Not cancelled and with something left to pay."""
        return self.with_amounts().filter(
            Q(cancelled_at__isnull=True) & Q(paid__lt=F("total_amount"))
        )


class Booking(models.Model):
    id = PrefixedIdField("bk")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    livemode = models.BooleanField(_("live"), default=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="bookings")
    reference = models.CharField(_("reference"), max_length=100)
    service_date = models.DateField(_("service date"))
    service_time = models.TimeField(_("service time"), null=True, blank=True)
    description = models.CharField(_("description"), max_length=500, blank=True)
    total_amount = models.BigIntegerField(_("total"))
    currency = models.CharField(_("currency"), max_length=3)
    # Received outside Kassa before the booking was recorded; posted to the ledger at creation.
    deposit_amount = models.BigIntegerField(_("deposit"), default=0)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=now, editable=False)
    updated_at = models.DateTimeField(_("updated"), default=now)
    paid_at = models.DateTimeField(_("paid in full"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    cancellation_reason = models.CharField(_("cancellation reason"), max_length=500, blank=True)

    objects = BookingQuerySet.as_manager()

    class Meta:
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "reference"], name="booking_reference_unique"
            )
        ]
        indexes = [
            # The reminder scan reads one service date of one organization at a time.
            models.Index(fields=["organization", "service_date"]),
            models.Index(fields=["organization", "-id"]),
        ]

    def __str__(self) -> str:
        return self.reference

    # The annotated values when loaded through `with_amounts()`, else read from the ledger.
    @property
    def paid_amount(self) -> int:
        cached = getattr(self, "paid", None)
        if cached is not None:
            return int(cached)
        account = LedgerAccount.objects.filter(
            organization_id=self.organization_id,
            kind=BOOKING_ACCOUNT_KIND,
            owner_id=self.id,
            currency=self.currency,
        ).first()
        return account.balance if account else 0

    @property
    def balance_due(self) -> int:
        return max(self.total_amount - self.paid_amount, 0)

    @property
    def overpaid_amount(self) -> int:
        return max(self.paid_amount - self.total_amount, 0)

    @property
    def status(self) -> str:
        if self.cancelled_at is not None:
            return BookingStatus.CANCELLED
        paid = self.paid_amount
        if paid >= self.total_amount:
            return BookingStatus.PAID
        return BookingStatus.PARTIALLY_PAID if paid > 0 else BookingStatus.UNPAID

    def get_status_display(self) -> str:
        return str(BookingStatus(self.status).label)

    def forget_amounts(self) -> None:
        """Drop annotated amounts so the next read goes to the ledger again."""
        for name in ("paid", "due", "derived_status"):
            self.__dict__.pop(name, None)


class PaymentLink(models.Model):
    """A single-use link to pay (part of) a booking's balance.

    The token in the URL is never stored: only its SHA-256. The token is an HMAC of the link's
    id and a random salt under the server's secret key, so the server can write the same URL
    into a later reminder without keeping it (see docs/bookings.md)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        USED = "used", _("Used")
        INVALIDATED = "invalidated", _("Invalidated")

    id = PrefixedIdField("plink")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="payment_links")
    # An installment; None means "the balance due when the customer pays".
    amount = models.BigIntegerField(_("installment"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_salt = models.CharField(max_length=64, editable=False)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    expires_at = models.DateTimeField(_("expires"))
    # The payment currently (or last) made through this link; at most one is open at a time.
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=now, editable=False)
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    invalidated_at = models.DateTimeField(_("invalidated"), null=True, blank=True)
    invalidation_reason = models.CharField(_("reason"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("payment link")
        verbose_name_plural = _("payment links")
        ordering = ["-id"]
        constraints = [
            # Regeneration invalidates the previous link: one active link per booking.
            models.UniqueConstraint(
                fields=["booking"],
                condition=Q(status="active"),
                name="payment_link_one_active_per_booking",
            )
        ]

    def __str__(self) -> str:
        return self.id

    def state(self, at: dt.datetime | None = None) -> str:
        """active, used, expired or invalidated (expiry is a matter of time, not a write)."""
        if self.status == self.Status.ACTIVE and self.expires_at <= (at or now()):
            return "expired"
        return str(self.status)


class Reminder(models.Model):
    """One reminder of a booking's balance: exactly one per booking and threshold (a unique
    constraint), inserted and enqueued by the scan in one transaction. Reminders sent by hand
    have no threshold."""

    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        MANUAL = "manual", _("Sent by hand")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped")

    class Urgency(models.TextChoices):
        FRIENDLY = "friendly", _("Friendly")
        FIRM = "firm", _("Firm")
        URGENT = "urgent", _("Urgent")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    threshold_days = models.PositiveSmallIntegerField(_("days before"), null=True, blank=True)
    urgency = models.CharField(_("urgency"), max_length=16, choices=Urgency.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    skip_reason = models.CharField(_("why skipped"), max_length=200, blank=True)
    due_at = models.DateTimeField(_("due"))
    payment_link = models.ForeignKey(
        PaymentLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    notification_id = models.CharField(_("notification"), max_length=40, blank=True)
    created_at = models.DateTimeField(_("created"), default=now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["-id"]
        constraints = [
            # NULL thresholds (manual reminders) are distinct, so only scheduled ones collide.
            models.UniqueConstraint(
                fields=["booking", "threshold_days"], name="reminder_once_per_threshold"
            )
        ]
        indexes = [models.Index(fields=["organization", "status", "sent_at"])]

    def __str__(self) -> str:
        if self.threshold_days is None:
            return f"{self.booking_id} (manual)"
        return f"{self.booking_id} −{self.threshold_days}d"

    @property
    def public_id(self) -> str:
        return f"rem_{self.pk}"


def default_thresholds() -> list[int]:
    return [7, 3, 1]


class ReminderSettings(models.Model):
    """An organization's reminder schedule; organizations without a row use the defaults."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    enabled = models.BooleanField(_("send reminders"), default=True)
    thresholds = models.JSONField(
        _("days before the service date"),
        default=default_thresholds,
        help_text=_("For example [7, 3, 1]."),
    )
    send_time = models.TimeField(
        _("send time"),
        default=dt.time(9, 0),
        help_text=_("Local time in the organization's time zone."),
    )
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("reminder settings")
        verbose_name_plural = _("reminder settings")

    def __str__(self) -> str:
        return f"{self.organization}: {self.thresholds} at {self.send_time:%H:%M}"


class RateLimitCounter(models.Model):
    """Requests per key (an IP address and a bucket) in one fixed window. Kept in the
    database so every node of a cluster counts together; old windows are pruned hourly."""

    key = models.CharField(max_length=200)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window_start"], name="rate_limit_window")
        ]
        indexes = [models.Index(fields=["window_start"])]

    def __str__(self) -> str:
        return f"{self.key}@{self.window_start:%H:%M}: {self.count}"
