"""The sandbox provider's one hot write: the charge that the test helper's "complete" makes
(`POST /v1/test_helpers/payments/{id}/complete`, part of the payments benchmark's flow), on
PostgreSQL's fast path when it is active and through the ORM otherwise."""

from __future__ import annotations

from kassa.payments.gateways.sandbox.models import SandboxCharge
from kassa.platform import fastdb


def insert_charge(charge: SandboxCharge) -> None:
    if fastdb.active():
        fastdb.insert(charge)
    else:
        charge.save(force_insert=True)
