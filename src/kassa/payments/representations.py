"""The public JSON form of payments, refunds, payment methods and gateway accounts."""

from __future__ import annotations

from typing import Any

from kassa.core.representations import iso
from kassa.payments.gateways.registry import gateway_for
from kassa.payments.links import checkout_url
from kassa.payments.models import GatewayAccount, Payment, PaymentMethod, Refund
from kassa.payments.states import TERMINAL


def payment_dict(payment: Payment) -> dict[str, Any]:
    open_for_checkout = payment.status not in TERMINAL and payment.status != "processing"
    return {
        "id": payment.id,
        "object": "payment",
        "livemode": payment.livemode,
        "amount": payment.amount,
        "currency": payment.currency,
        "amount_refunded": payment.amount_refunded,
        "status": payment.status,
        "customer": payment.customer_id,
        "description": payment.description or None,
        "purpose": payment.purpose,
        "purpose_id": payment.purpose_id or None,
        "gateway_account": payment.gateway_account_id,
        "gateway_reference": payment.gateway_reference or None,
        "payment_method": payment.payment_method_id,
        "checkout_url": checkout_url(payment.id) if open_for_checkout else None,
        "return_url": payment.return_url or None,
        "failure_code": payment.failure_code or None,
        "failure_message": payment.failure_message or None,
        "metadata": payment.metadata,
        "expires_at": iso(payment.expires_at),
        "created": iso(payment.created_at),
        "succeeded_at": iso(payment.succeeded_at),
    }


def refund_dict(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "object": "refund",
        "payment": refund.payment_id,
        "amount": refund.amount,
        "currency": refund.currency,
        "status": refund.status,
        "reason": refund.reason or None,
        "gateway_reference": refund.gateway_reference or None,
        "failure_message": refund.failure_message or None,
        "metadata": refund.metadata,
        "created": iso(refund.created_at),
    }


def payment_method_dict(method: PaymentMethod) -> dict[str, Any]:
    return {
        "id": method.id,
        "object": "payment_method",
        "customer": method.customer_id,
        "gateway_account": method.gateway_account_id,
        "type": method.kind,
        "brand": method.brand or None,
        "last4": method.last4 or None,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
        "status": method.status,
        "created": iso(method.created_at),
    }


def mask(value: str) -> str:
    if len(value) <= 4:
        return "•" * len(value)
    return "•" * min(len(value) - 4, 12) + value[-4:]


def gateway_account_dict(account: GatewayAccount) -> dict[str, Any]:
    gateway = gateway_for(account)
    secret_fields = {f.name for f in gateway.credential_fields if f.secret}
    credentials = {
        name: mask(value) if name in secret_fields else value
        for name, value in account.credentials.items()
    }
    return {
        "id": account.id,
        "object": "gateway_account",
        "provider": account.provider,
        "name": account.name or None,
        "test_mode": account.test_mode,
        "currencies": account.currencies,
        "default": account.is_default,
        "status": account.status,
        "credentials": credentials,
        "options": account.options,
        "callback_urls": gateway.callback_urls(),
        "capabilities": {
            k: v for k, v in vars(gateway.capabilities).items() if isinstance(v, bool)
        },
        "created": iso(account.created_at),
    }
