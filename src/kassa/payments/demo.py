"""Demo data: a sandbox gateway account so the demo can take (test) payments."""

from __future__ import annotations

from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.customers import demo
from kassa.customers.models import Customer
from kassa.payments.accounts import create_gateway_account
from kassa.payments.models import GatewayAccount


def load(organization: Organization, customers: dict[str, Customer]) -> dict[str, str]:
    if not GatewayAccount.objects.filter(organization=organization, provider="sandbox").exists():
        create_gateway_account(
            organization,
            provider="sandbox",
            test_mode=True,
            credentials={},
            name="Sandbox cards",
            currencies=["UZS", "EUR", "USD"],
            is_default=True,
            actor=Actor.system("demo"),
        )
    return {}


demo.register(load)
