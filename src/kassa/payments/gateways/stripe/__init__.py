"""Stripe, through the official SDK. See docs/gateways/stripe.md.

connector.py (the Gateway: checkout, off-session charges, refunds, status), webhooks.py
(verifying and normalizing Stripe's events), protocol.py (our metadata keys on Stripe's
objects, status maps, error mapping). Tests: tests/payments/gateways/stripe/."""
