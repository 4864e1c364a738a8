"""OCTO (octo.uz): a hosted payment page, two-stage holds, refunds, signed notifications.
See docs/gateways/octo.md.

connector.py (the Gateway), protocol.py (wire format), client.py (HTTP to OCTO), services.py
(what OCTO's answers do to payments), models.py (OctoPayment), tasks.py (periodic jobs).
Tests: tests/payments/gateways/octo/."""
