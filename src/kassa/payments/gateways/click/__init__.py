"""Click: a payment link and the SHOP API (Prepare, Complete) Click calls.
See docs/gateways/click.md.

connector.py (the Gateway), protocol.py (wire format), services.py (what each call does to a
payment), models.py (ClickTransaction), tasks.py (the periodic release of stale
reservations). Tests: tests/payments/gateways/click/."""
