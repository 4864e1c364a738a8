"""The Stripe simulator's fixtures (support.py) for the Stripe tests."""

from tests.payments.gateways.stripe.support import (  # noqa: F401
    deliver,
    stripe_account,
    stripe_shopper,
    stripe_sim,
)
