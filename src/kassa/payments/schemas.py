"""Request and response shapes of the payments API."""

from __future__ import annotations

from typing import Any, Literal

from ninja import Field, Schema

from kassa.core.schemas import InputSchema


class PaymentIn(InputSchema):
    amount: int = Field(description="In minor units (tiyin, cents).")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217, e.g. UZS.")
    customer: str | None = None
    description: str | None = Field(None, max_length=500)
    gateway_account: str | None = Field(
        None, description="gwa_...; by default the organization's default account for the currency."
    )
    return_url: str | None = Field(None, max_length=1000)
    metadata: dict[str, str] | None = None
    save_payment_method: bool = Field(False, description="Save the card for off-session charges.")
    payment_method: str | None = Field(
        None, description="pm_...: charge this saved method off-session right away."
    )


class PaymentOut(Schema):
    id: str
    object: str = "payment"
    livemode: bool
    amount: int
    currency: str
    amount_refunded: int
    status: Literal[
        "pending", "requires_action", "processing", "succeeded", "failed", "canceled", "expired"
    ]
    customer: str | None
    description: str | None
    purpose: str
    purpose_id: str | None
    gateway_account: str | None
    gateway_reference: str | None
    payment_method: str | None
    checkout_url: str | None
    return_url: str | None
    failure_code: str | None
    failure_message: str | None
    metadata: dict[str, str]
    expires_at: str | None
    created: str
    succeeded_at: str | None


class PaymentList(Schema):
    object: str = "list"
    data: list[PaymentOut]
    has_more: bool


class RefundIn(InputSchema):
    payment: str
    amount: int | None = Field(None, description="Default: what is left to refund.")
    reason: str | None = Field(None, max_length=500)
    metadata: dict[str, str] | None = None


class RefundOut(Schema):
    id: str
    object: str = "refund"
    payment: str
    amount: int
    currency: str
    status: Literal["pending", "succeeded", "failed"]
    reason: str | None
    gateway_reference: str | None
    failure_message: str | None
    metadata: dict[str, Any]
    created: str


class RefundList(Schema):
    object: str = "list"
    data: list[RefundOut]
    has_more: bool


class GatewayAccountIn(InputSchema):
    provider: Literal["sandbox", "stripe", "payme", "click", "octo"]
    test_mode: bool = True
    credentials: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(None, max_length=100)
    currencies: list[str] | None = None
    default: bool = False


class GatewayAccountUpdate(InputSchema):
    credentials: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    name: str | None = Field(None, max_length=100)
    currencies: list[str] | None = None
    default: bool | None = None
    status: Literal["enabled", "disabled"] | None = None


class GatewayAccountOut(Schema):
    id: str
    object: str = "gateway_account"
    provider: str
    name: str | None
    test_mode: bool
    currencies: list[str]
    default: bool
    status: str
    credentials: dict[str, str] = Field(description="Masked; secrets are never returned.")
    options: dict[str, Any]
    callback_urls: dict[str, str]
    capabilities: dict[str, bool]
    created: str


class GatewayAccountList(Schema):
    object: str = "list"
    data: list[GatewayAccountOut]
    has_more: bool


class PaymentMethodOut(Schema):
    id: str
    object: str = "payment_method"
    customer: str
    gateway_account: str
    type: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    status: str
    created: str


class PaymentMethodList(Schema):
    object: str = "list"
    data: list[PaymentMethodOut]
    has_more: bool


class CompleteIn(InputSchema):
    outcome: Literal["succeeded", "failed", "requires_action"]
