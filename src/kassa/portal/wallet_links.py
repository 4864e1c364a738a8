"""Where the portal's account pages touch wallets."""

from __future__ import annotations

from kassa.payments.models import PaymentMethod
from kassa.wallets import auto_topup
from kassa.wallets.models import Wallet


def stop_auto_topups_using(method: PaymentMethod) -> None:
    """A removed card cannot pay for auto top-ups: switch them off on the customer's wallets."""
    for wallet in Wallet.objects.filter(
        customer_id=method.customer_id,
        auto_topup_enabled=True,
        auto_topup_payment_method_id=method.id,
    ):
        auto_topup.configure(wallet, enabled=False)
