"""Stripe, through the official SDK. See docs/gateways/stripe.md.

connector.py (the Gateway). Tests: tests/payments/gateways/stripe/."""
