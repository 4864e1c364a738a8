"""Request and response shapes of the bookings API."""

from __future__ import annotations

from typing import Literal

from ninja import Field, Schema

from kassa.core.schemas import Date, DateTime, InputSchema, Time

BookingStatusName = Literal["unpaid", "partially_paid", "paid", "cancelled"]


class BookingIn(InputSchema):
    customer: str = Field(description="cus_...: who pays.")
    reference: str = Field(
        min_length=1, max_length=100, description="Your reference; unique in the organization."
    )
    service_date: Date = Field(description="YYYY-MM-DD: the balance is due before it.")
    service_time: Time | None = Field(None, description="HH:MM, local time.")
    description: str | None = Field(None, max_length=500)
    total_amount: int = Field(description="In minor units.")
    currency: str = Field(min_length=3, max_length=3)
    deposit_paid: int | None = Field(
        None, description="Already received outside Kassa; recorded in the ledger."
    )
    metadata: dict[str, str] | None = None


class BookingOut(Schema):
    id: str
    object: str = "booking"
    livemode: bool
    customer: str
    reference: str
    service_date: str
    service_time: str | None
    description: str | None
    total_amount: int
    currency: str
    deposit_paid: int
    paid_amount: int = Field(description="The booking's ledger balance.")
    balance_due: int
    overpaid_amount: int
    status: BookingStatusName
    metadata: dict[str, str]
    created: str
    paid_at: str | None
    cancelled_at: str | None


class BookingList(Schema):
    object: str = "list"
    data: list[BookingOut]
    has_more: bool


class CancelIn(InputSchema):
    reason: str | None = Field(None, max_length=500)


class PaymentLinkIn(InputSchema):
    amount: int | None = Field(None, description="An installment; default: the balance due.")
    expires_at: DateTime | None = Field(
        None, description="Default and latest: the start of the service date (organization time)."
    )


class PaymentLinkOut(Schema):
    id: str
    object: str = "payment_link"
    booking: str
    amount: int = Field(description="What the customer would pay now.")
    installment: int | None
    currency: str
    status: Literal["active", "used", "expired", "invalidated"]
    url: str | None = Field(description="Only while the link is active.")
    expires_at: str
    payment: str | None
    created: str
    used_at: str | None
    invalidated_at: str | None


class PaymentLinkList(Schema):
    object: str = "list"
    data: list[PaymentLinkOut]
    has_more: bool


class InvalidateIn(InputSchema):
    reason: str | None = Field(None, max_length=500)


class ReminderOut(Schema):
    id: str
    object: str = "reminder"
    booking: str
    kind: Literal["scheduled", "manual"]
    threshold_days: int | None
    urgency: Literal["friendly", "firm", "urgent"]
    status: Literal["queued", "sent", "skipped"]
    payment_link: str | None
    notification: str | None
    due_at: str
    sent_at: str | None
