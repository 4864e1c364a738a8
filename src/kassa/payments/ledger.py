"""The ledger postings of payments and refunds.

Accounts (per organization and currency):
- `gateway_clearing`, owned by the gateway account (or `manual` for money received outside a
  gateway): the source of incoming money; its balance is minus what came in through it.
- the purpose's destination (`payments_received` for generic payments, a booking, a wallet).
- `refunds_in_flight`: a refund's amount is held here from the moment it is asked for until the
  provider confirms (then it goes to clearing) or refuses it (then it goes back).
The clearing, `payments_received` and `refunds_in_flight` accounts are house accounts with a
derived balance (docs/ledger.md): every payment of an organization posts to them, and they
must not make its payments wait for one another.
"""

from __future__ import annotations

from kassa.ledger import services as ledger
from kassa.payments.models import Payment, Refund
from kassa.payments.purposes import purpose_of


def clearing_account(payment: Payment) -> int:
    owner = payment.gateway_account_id or "manual"
    return ledger.account_id(
        payment.organization_id,
        kind="gateway_clearing",
        owner_id=owner,
        currency=payment.currency,
        name=f"Clearing {owner}",
        derived=True,
    )


def refunds_in_flight(payment: Payment) -> int:
    return ledger.account_id(
        payment.organization_id,
        kind="refunds_in_flight",
        currency=payment.currency,
        name="Refunds in flight",
        derived=True,
    )


def post_success(payment: Payment) -> None:
    ledger.post(
        payment.organization_id,
        ledger.transfer(
            kind="payment",
            idempotency_key=f"{payment.id}:succeeded",
            source=clearing_account(payment),
            destination=purpose_of(payment.purpose).destination(payment),
            amount=payment.amount,
            reference=payment.id,
            description=payment.description[:200],
        ),
    )


def hold_refund(payment: Payment, refund: Refund) -> None:
    """Take the refund out of the destination now; raises InsufficientFunds if it is spent."""
    ledger.post(
        payment.organization_id,
        ledger.transfer(
            kind="refund_hold",
            idempotency_key=f"{refund.id}:hold",
            source=purpose_of(payment.purpose).destination(payment),
            destination=refunds_in_flight(payment),
            amount=refund.amount,
            reference=refund.id,
        ),
    )


def settle_refund(payment: Payment, refund: Refund) -> None:
    ledger.post(
        payment.organization_id,
        ledger.transfer(
            kind="refund",
            idempotency_key=f"{refund.id}:settled",
            source=refunds_in_flight(payment),
            destination=clearing_account(payment),
            amount=refund.amount,
            reference=refund.id,
        ),
    )


def release_refund(payment: Payment, refund: Refund) -> None:
    ledger.post(
        payment.organization_id,
        ledger.transfer(
            kind="refund_release",
            idempotency_key=f"{refund.id}:released",
            source=refunds_in_flight(payment),
            destination=purpose_of(payment.purpose).destination(payment),
            amount=refund.amount,
            reference=refund.id,
        ),
    )
