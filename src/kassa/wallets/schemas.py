"""Request and response shapes of the wallets API."""

from __future__ import annotations

from typing import Any, Literal

from ninja import Field, Schema

from kassa.core.schemas import InputSchema
from kassa.payments.schemas import PaymentOut


class WalletIn(InputSchema):
    customer: str = Field(description="cus_...")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217, e.g. EUR.")
    low_balance_thresholds: list[int] | None = Field(
        None, description="Balances (minor units) below which the customer is warned."
    )
    metadata: dict[str, str] | None = None


class WalletUpdate(InputSchema):
    low_balance_thresholds: list[int] | None = None
    metadata: dict[str, str] | None = None


class AutoTopUpOut(Schema):
    enabled: bool
    threshold: int
    amount: int
    payment_method: str | None
    consecutive_failures: int
    disabled_reason: str | None


class WalletOut(Schema):
    id: str
    object: str = "wallet"
    customer: str
    currency: str
    balance: int = Field(description="Minor units; negative only within the credit limit.")
    available: int = Field(description="What may still be charged: balance + credit_limit.")
    credit_limit: int
    low_balance_thresholds: list[int]
    auto_topup: AutoTopUpOut
    metadata: dict[str, str]
    created: str


class WalletList(Schema):
    object: str = "list"
    data: list[WalletOut]
    has_more: bool


class BonusTier(InputSchema):
    min_amount: int = Field(description="The smallest top-up (minor units) the tier applies to.")
    basis_points: int = Field(description="Bonus in hundredths of a percent: 500 = 5 %.")


class WalletSettingsIn(InputSchema):
    credit_limit: int | None = Field(None, description="How far below zero a wallet may go.")
    min_topup: int | None = None
    max_topup: int | None = None
    bonus_tiers: list[BonusTier] | None = None
    auto_topup_cooldown_minutes: int | None = None
    auto_topup_daily_limit: int | None = None


class WalletSettingsOut(Schema):
    object: str = "wallet_settings"
    currency: str
    credit_limit: int
    min_topup: int
    max_topup: int | None
    bonus_tiers: list[BonusTier]
    auto_topup_cooldown_minutes: int
    auto_topup_daily_limit: int


class TopUpIn(InputSchema):
    amount: int = Field(description="Minor units, within the organization's bounds.")
    gateway_account: str | None = None
    return_url: str | None = Field(None, max_length=1000)
    save_payment_method: bool = Field(False, description="Save the card (for auto top-up).")


class TopUpOut(Schema):
    id: str
    object: str = "wallet_topup"
    wallet: str
    status: Literal["pending", "succeeded", "failed"]
    source: Literal["checkout", "auto"]
    amount: int
    bonus_amount: int
    currency: str
    payment: PaymentOut | None
    created: str
    succeeded_at: str | None


class TopUpList(Schema):
    object: str = "list"
    data: list[TopUpOut]
    has_more: bool


class ChargeIn(InputSchema):
    amount: int = Field(description="Minor units, > 0.")
    description: str | None = Field(None, max_length=500)
    metadata: dict[str, str] | None = None


class ChargeOut(Schema):
    id: str
    object: str = "wallet_charge"
    wallet: str
    amount: int
    currency: str
    description: str | None
    metadata: dict[str, Any]
    balance_after: int | None
    reversed: bool
    replayed: bool = Field(description="True when the idempotency key had been charged before.")
    created: str | None


class BatchChargeIn(InputSchema):
    wallet: str
    amount: int
    idempotency_key: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=500)
    metadata: dict[str, str] | None = None


class BatchIn(InputSchema):
    charges: list[BatchChargeIn] = Field(min_length=1, max_length=1000)


class ChargeList(Schema):
    object: str = "list"
    data: list[ChargeOut]
    has_more: bool


class AutoTopUpIn(InputSchema):
    enabled: bool
    threshold: int | None = Field(None, description="Top up when the balance falls below this.")
    amount: int | None = Field(None, description="How much each automatic top-up adds.")
    payment_method: str | None = Field(None, description="pm_... saved for this customer.")


class AttemptOut(Schema):
    id: str
    object: str = "wallet_auto_topup_attempt"
    wallet: str
    status: Literal["in_flight", "succeeded", "failed", "requires_action"]
    trigger: str
    amount: int
    currency: str
    balance_at_start: int
    topup: str | None
    payment: str | None
    failure_code: str | None
    failure_message: str | None
    created: str
    finished_at: str | None


class AttemptList(Schema):
    object: str = "list"
    data: list[AttemptOut]
    has_more: bool


class TransactionOut(Schema):
    id: str = Field(description="wtx_<n>; newer transactions have larger numbers.")
    object: str = "wallet_transaction"
    wallet: str
    type: str = Field(description="topup, bonus, charge, reversal, adjustment or refund.")
    amount: int = Field(description="Signed: positive credits the wallet.")
    currency: str
    balance_after: int
    description: str | None
    reference: str | None
    metadata: dict[str, Any]
    created: str


class TransactionList(Schema):
    object: str = "list"
    data: list[TransactionOut]
    has_more: bool
