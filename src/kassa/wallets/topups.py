"""Top-ups: money paid into a wallet through a payment, plus the bonus its tier grants.

A top-up is a payment with the purpose `wallet_topup` (purposes.py: the payment's success
credits the wallet and posts the bonus in the same transaction). The bonus is fixed when the
top-up is created, from the tiers then in force (see `rules.bonus_for` for the rounding).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from kassa.core.money import validate_amount
from kassa.payments import services as payments
from kassa.wallets.models import TopUp, Wallet
from kassa.wallets.purposes import PURPOSE
from kassa.wallets.rules import bonus_for, check_topup_amount, settings_for


def new_topup(wallet: Wallet, amount: Any, source: str) -> TopUp:
    """Build (not save) a top-up with its bonus, checking the organization's bounds."""
    amount = validate_amount(amount, wallet.currency)
    rules = settings_for(wallet.organization_id, wallet.currency)
    check_topup_amount(rules, amount)
    return TopUp(
        organization_id=wallet.organization_id,
        wallet=wallet,
        amount=amount,
        bonus_amount=bonus_for(rules, amount),
        currency=wallet.currency,
        source=source,
    )


def create_topup(
    wallet: Wallet,
    *,
    amount: Any,
    livemode: bool,
    gateway_account_id: str | None = None,
    return_url: str = "",
    save_payment_method: bool = False,
) -> TopUp:
    """A pending top-up and its payment; the customer pays at the payment's checkout_url."""
    topup = new_topup(wallet, amount, TopUp.Source.CHECKOUT)
    with transaction.atomic():
        topup.save(force_insert=True)
        # No payment method: create_payment only writes rows, it calls no provider.
        payment = payments.create_payment(
            wallet.organization,
            amount=topup.amount,
            currency=wallet.currency,
            livemode=livemode,
            customer_id=wallet.customer_id,
            description=f"Wallet top-up {topup.id}",
            gateway_account_id=gateway_account_id,
            return_url_=return_url,
            purpose=PURPOSE,
            purpose_id=topup.id,
            save_payment_method=save_payment_method,
        )
        topup.payment = payment
        topup.save(update_fields=["payment"])
    return topup
