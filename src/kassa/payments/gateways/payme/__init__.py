"""Payme (Paycom): a checkout link and the Merchant API (JSON-RPC) Payme calls.
See docs/gateways/payme.md.

connector.py (the Gateway), protocol.py (wire format), services.py (what each method does
to a payment), models.py (PaymeTransaction). Tests: tests/payments/gateways/payme/."""
