"""The payment state machine: which transitions exist and who may cause them."""

from __future__ import annotations

from enum import StrEnum

from kassa.core.errors import StateConflict
from kassa.payments.models import PaymentStatus as S


class Source(StrEnum):
    GATEWAY = "gateway"  # the provider reported it (event, status query, merchant API)
    API = "api"  # the merchant's own API call
    STAFF = "staff"  # a person in the admin, with a reason
    SYSTEM = "system"  # Kassa itself (checkout expiry)


TERMINAL = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELED, S.EXPIRED})

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset(
        {S.REQUIRES_ACTION, S.PROCESSING, S.SUCCEEDED, S.FAILED, S.CANCELED, S.EXPIRED}
    ),
    S.REQUIRES_ACTION: frozenset({S.PROCESSING, S.SUCCEEDED, S.FAILED, S.CANCELED, S.EXPIRED}),
    S.PROCESSING: frozenset({S.REQUIRES_ACTION, S.SUCCEEDED, S.FAILED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
    S.EXPIRED: frozenset(),
}


class InvalidTransition(StateConflict):
    code = "payment_invalid_state"


def check_transition(current: str, target: str, source: Source) -> None:
    """Raise InvalidTransition unless `source` may move a payment from `current` to `target`.

    A success confirmed by the provider, or recorded by staff with a reason, is accepted from
    any state but succeeded: the money has moved, so our own failed/canceled/expired verdict
    gives way to it."""
    if target in TRANSITIONS[current]:
        return
    if (
        target == S.SUCCEEDED
        and current != S.SUCCEEDED
        and source in (Source.GATEWAY, Source.STAFF)
    ):
        return
    raise InvalidTransition(f"A {current} payment cannot become {target}.")
