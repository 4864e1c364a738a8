"""Demo data: a wallet with some history for the first demo customer."""

from __future__ import annotations

from django.conf import settings

from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.customers import demo
from kassa.customers.models import Customer
from kassa.wallets import services
from kassa.wallets.models import Wallet

DEMO_CUSTOMER = "jonas@example.com"


def load(organization: Organization, customers: dict[str, Customer]) -> dict[str, str]:
    customer = customers.get(DEMO_CUSTOMER)
    if customer is None:
        return {}
    wallet = Wallet.objects.filter(
        organization=organization, customer=customer, currency="EUR"
    ).first()
    if wallet is None:
        wallet = services.create_wallet(
            organization,
            customer_id=customer.id,
            currency="EUR",
            low_balance_thresholds=[1000, 500],
        )
        wallet = services.get_wallet(organization, wallet.id)
        services.adjust(
            wallet, amount=5000, reason="Welcome credit (demo)", actor=Actor.system("demo")
        )
        services.charge(
            wallet, amount=1250, description="Phone minutes (demo)", idempotency_key="demo-1"
        )
    base = settings.KASSA_BASE_URL
    return {
        "Wallet": f"{base}/admin/wallets/wallet/{wallet.id}/change/ ({customer.name}, EUR)",
        # The sign-in link is emailed; with the default console email backend it is printed
        # by the worker in the `kassa serve` output.
        "Portal": f"{base}/portal/sign-in   as {customer.email} (the sign-in email is "
        "printed in this terminal)",
    }


demo.register(load)
