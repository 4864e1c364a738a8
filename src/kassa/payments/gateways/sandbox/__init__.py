"""The sandbox: a simulated card provider that runs inside Kassa (test mode, the demo).

connector.py (the Gateway), provider.py (the simulated provider: test cards, charges,
refunds, signed events), models.py (its records), views.py (its card page and 3-D Secure
style step). Tests: tests/payments/gateways/sandbox/."""
