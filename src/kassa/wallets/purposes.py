"""The "wallet_topup" payment purpose: a top-up's money lands in the wallet's ledger account.

The payment's own ledger posting credits the wallet's account (the purpose's destination) in
the transaction that marks the payment succeeded; in that same transaction `on_succeeded`
posts the bonus from the organization's bonus account as a separate ledger transaction (kind
`wallet_bonus`), so paid and granted credit stay apart in the books and in the history.
Top-ups themselves are made in topups.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import timezone

from kassa.core.errors import StateConflict
from kassa.events.services import emit
from kassa.ledger import services as ledger
from kassa.payments.purposes import Purpose, register
from kassa.wallets.models import AutoTopUpAttempt, TopUp, TopUpStatus
from kassa.wallets.representations import topup_dict
from kassa.wallets.services import after_change, house_account
from kassa.wallets.signals import balance_state

if TYPE_CHECKING:
    from kassa.payments.models import Payment, Refund

PURPOSE = "wallet_topup"


class WalletTopUpPurpose(Purpose):
    key = PURPOSE

    def _topup(self, payment: Payment, *, lock: bool = False) -> TopUp:
        queryset = TopUp.objects.select_related("wallet", "wallet__ledger_account")
        if lock:
            queryset = queryset.select_for_update(of=("self",))
        return queryset.get(pk=payment.purpose_id, organization_id=payment.organization_id)

    def validate_new(self, payment: Payment) -> None:
        topup = TopUp.objects.filter(pk=payment.purpose_id).first()
        if topup is None or topup.status != TopUpStatus.PENDING:
            raise StateConflict("This top-up cannot be paid.")

    def destination(self, payment: Payment) -> int:
        return self._topup(payment).wallet.ledger_account_id

    def lock(self, payment: Payment) -> None:
        self._topup(payment, lock=True)

    def on_succeeded(self, payment: Payment) -> None:
        topup = self._topup(payment)
        wallet = topup.wallet
        if topup.status == TopUpStatus.SUCCEEDED:
            return
        if topup.bonus_amount:
            ledger.post(
                payment.organization_id,
                ledger.transfer(
                    kind="wallet_bonus",
                    idempotency_key=f"{topup.id}:bonus",
                    source=house_account(wallet.organization_id, "wallet_bonus", wallet.currency),
                    destination=wallet.ledger_account_id,
                    amount=topup.bonus_amount,
                    reference=topup.id,
                    description=f"Bonus on top-up {topup.id}",
                ),
            )
        topup.status = TopUpStatus.SUCCEEDED
        topup.succeeded_at = timezone.now()
        topup.payment = payment
        topup.save(update_fields=["status", "succeeded_at", "payment"])
        balance, sequence = balance_state(wallet.ledger_account_id)
        after_change(
            wallet,
            before=balance - topup.amount - topup.bonus_amount,
            after=balance,
            sequence=sequence,
        )
        emit(wallet.organization_id, "wallet.topped_up", topup_dict(topup))
        attempt = AutoTopUpAttempt.objects.filter(topup=topup).first()
        if attempt is not None:
            from kassa.wallets.auto_topup import attempt_succeeded

            attempt_succeeded(attempt, wallet)

    def on_closed(self, payment: Payment) -> None:
        topup = self._topup(payment)
        if topup.status != TopUpStatus.PENDING:
            return
        topup.status = TopUpStatus.FAILED
        topup.save(update_fields=["status"])
        attempt = AutoTopUpAttempt.objects.filter(topup=topup).first()
        if attempt is not None:
            from kassa.wallets.auto_topup import attempt_failed

            attempt_failed(
                attempt,
                topup.wallet,
                code=payment.failure_code or f"payment_{payment.status}",
                message=payment.failure_message,
            )

    def can_refund(self, payment: Payment, amount: int) -> bool:
        # Only money still in the wallet goes back (the ledger refuses the rest anyway).
        return self._topup(payment).wallet.ledger_account.balance >= amount

    def on_refunded(self, payment: Payment, refund: Refund) -> None:
        wallet = self._topup(payment).wallet
        balance, sequence = balance_state(wallet.ledger_account_id)
        # The amount left the wallet when the refund was asked for (held); this announces it.
        after_change(wallet, before=balance, after=balance, sequence=sequence)


register(WalletTopUpPurpose())
