"""What Click's Prepare and Complete do to Kassa's payments.

Each function answers with a `ClickError` (and the id to send back) and makes every change in
ONE database transaction that locks the payment first and the Click transaction second (then
`transition` locks the ledger accounts last), so two identical requests at the same moment
change state once and a repeated `click_trans_id` can never pay twice.

Decisions (see docs/gateways/click.md):
- Prepare reserves: the payment becomes `processing`, so it cannot be canceled, expire or be
  paid through another gateway while Click debits the customer. A second attempt (another
  click_trans_id) for a payment that a live attempt reserves is refused with -7.
- Complete with error 0 succeeds the payment (ledger posted by `transition`); a repeat is -4.
- Complete with Click error < 0 cancels the attempt and answers -9. A payment the attempt
  reserved goes to `requires_action` ("choose another card"): the order stays payable and
  the customer may try again, which is what a one-time order needs. Click may send a cancel
  for an attempt it already confirmed (Postman scenario 8): answered -9 as the suite expects
  (configurable), but the paid payment is never un-paid; that is logged for staff instead.
- A prepared attempt older than the account's `prepare_timeout_minutes` stops reserving the
  payment: a new attempt may prepare and `release_stale_reservations` (periodic) moves the
  payment back to `requires_action`. A late Complete for it still pays. The clock is `clock`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from kassa.core.ids import ID_MAX_LENGTH
from kassa.payments.gateways.click.models import ClickTransaction
from kassa.payments.gateways.click.protocol import ClickError, ClickRequest, amount_in_tiyin
from kassa.payments.models import GatewayAccount, Payment, PaymentStatus
from kassa.payments.services import Change, transition
from kassa.payments.states import Source

logger = logging.getLogger("kassa.payments.click")

S = PaymentStatus
T = ClickTransaction.Status
CURRENCY = "UZS"
DEFAULT_PREPARE_TIMEOUT_MINUTES = 30

#: The clock every Click timing rule reads; tests replace it.
clock: Callable[[], datetime] = timezone.now


@dataclass(frozen=True)
class Answer:
    error: ClickError
    merchant_id: int | None = None  # merchant_prepare_id or merchant_confirm_id


def prepare_timeout(account: GatewayAccount) -> timedelta:
    minutes = account.options.get("prepare_timeout_minutes", DEFAULT_PREPARE_TIMEOUT_MINUTES)
    return timedelta(minutes=int(minutes))


def cancel_of_confirmed_reply(account: GatewayAccount) -> ClickError:
    return ClickError(int(account.options.get("cancel_of_confirmed_reply", -9)))


# -- Prepare ----------------------------------------------------------------------------------


def prepare(account_id: str, request: ClickRequest) -> Answer:
    account = GatewayAccount.objects.get(pk=account_id)
    if request.error < 0:
        return _cancel(account, request, by_prepare_id=False)
    payment = _find_payment(account, request.merchant_trans_id)
    if payment is None or not account.enabled:
        return Answer(ClickError.USER_NOT_FOUND)
    if amount_in_tiyin(request.amount) != payment.amount:
        return Answer(ClickError.INCORRECT_AMOUNT)
    return _guarded(lambda: _prepare_locked(account, payment.id, request))


def _prepare_locked(account: GatewayAccount, payment_id: str, request: ClickRequest) -> Answer:
    now = clock()
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    attempt = (
        ClickTransaction.objects.select_for_update()
        .filter(gateway_account=account, click_trans_id=request.click_trans_id)
        .first()
    )
    if attempt is not None and attempt.payment_id != payment.id:
        # Click's ids are unique; the same click_trans_id for another order is not Click.
        return Answer(ClickError.BAD_REQUEST)
    if attempt is not None and attempt.status == T.CONFIRMED:
        return Answer(ClickError.ALREADY_PAID, attempt.pk)
    if attempt is not None and attempt.status == T.CANCELLED:
        return Answer(ClickError.TRANSACTION_CANCELLED, attempt.pk)
    if payment.status == S.SUCCEEDED:
        return Answer(ClickError.ALREADY_PAID)
    if payment.status in (S.CANCELED, S.EXPIRED, S.FAILED):
        return Answer(ClickError.TRANSACTION_CANCELLED)
    if payment.status != S.PROCESSING and payment.expires_at and payment.expires_at <= now:
        return Answer(ClickError.TRANSACTION_CANCELLED)  # the checkout expired unpaid
    if payment.status == S.PROCESSING and _reserved_by_other(account, payment, attempt, now):
        return Answer(ClickError.FAILED_TO_UPDATE)
    if attempt is None:
        attempt = ClickTransaction.objects.create(
            organization_id=payment.organization_id,
            gateway_account=account,
            payment=payment,
            click_trans_id=request.click_trans_id,
            click_paydoc_id=request.click_paydoc_id,
            amount=request.amount,
            sign_time=request.sign_time[:32],
            click_error=request.error,
            click_error_note=request.error_note[:500],
            prepared_at=now,
            created_at=now,
            updated_at=now,
        )
    else:  # Click repeated the Prepare of a live attempt: same answer, reservation renewed
        attempt.prepared_at = attempt.updated_at = now
        attempt.save(update_fields=["prepared_at", "updated_at"])
    if payment.gateway_account_id != account.id:
        # Paid through this account (the Click app can reach any order): refunds, the
        # ledger's clearing account and reconciliation follow it.
        Payment.objects.filter(pk=payment.id).update(gateway_account=account, updated_at=now)
    transition(
        payment.id,
        S.PROCESSING,
        source=Source.GATEWAY,
        change=Change(gateway_reference=str(request.click_trans_id)),
    )
    return Answer(ClickError.SUCCESS, attempt.pk)


def _reserved_by_other(
    account: GatewayAccount,
    payment: Payment,
    attempt: ClickTransaction | None,
    now: datetime,
) -> bool:
    """Whether something other than `attempt` holds the payment in processing."""
    prepared = ClickTransaction.objects.filter(payment=payment, status=T.PREPARED)
    if attempt is not None:
        if attempt.prepared_at > now - prepare_timeout(account):
            return False  # this very attempt is the reservation
        prepared = prepared.exclude(pk=attempt.pk)
    if not prepared.exists() and attempt is None:
        return True  # processing for another reason (another gateway's reservation)
    return prepared.filter(prepared_at__gt=now - prepare_timeout(account)).exists()


# -- Complete ---------------------------------------------------------------------------------


def complete(account_id: str, request: ClickRequest) -> Answer:
    account = GatewayAccount.objects.get(pk=account_id)
    if request.error < 0:
        # Checked before any paid-state check, as Click's Postman scenario 8 requires.
        return _cancel(account, request, by_prepare_id=True)
    payment = _find_payment(account, request.merchant_trans_id)
    if payment is None:
        return Answer(ClickError.USER_NOT_FOUND)
    attempt = _attempt_for(account, request, payment.id)
    if attempt is None:
        return Answer(ClickError.TRANSACTION_NOT_FOUND)
    if amount_in_tiyin(request.amount) != payment.amount:
        return Answer(ClickError.INCORRECT_AMOUNT)
    return _guarded(lambda: _complete_locked(account, payment.id, attempt.pk, request))


def _complete_locked(
    account: GatewayAccount, payment_id: str, attempt_id: int, request: ClickRequest
) -> Answer:
    now = clock()
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    attempt = ClickTransaction.objects.select_for_update().get(pk=attempt_id)
    if attempt.status == T.CONFIRMED:
        return Answer(ClickError.ALREADY_PAID, attempt.merchant_confirm_id)
    if attempt.status == T.CANCELLED:
        return Answer(ClickError.TRANSACTION_CANCELLED)
    if payment.status == S.SUCCEEDED:
        # Paid by another attempt or gateway while this one was debited: Click holds it for
        # manual review on -4; staff reverse it in Click's cabinet.
        logger.warning(
            "click: attempt %s of %s was debited but the payment was already paid; "
            "answered -4 (reverse it in Click's cabinet)",
            request.click_trans_id,
            payment.id,
        )
        return Answer(ClickError.ALREADY_PAID)
    # The money has moved: a success is recorded from any other state (states.py).
    transition(
        payment.id,
        S.SUCCEEDED,
        source=Source.GATEWAY,
        change=Change(
            gateway_reference=str(request.click_trans_id),
            amount=amount_in_tiyin(request.amount),
            currency=CURRENCY,
        ),
    )
    attempt.status = T.CONFIRMED
    attempt.merchant_confirm_id = attempt.pk
    attempt.click_error = request.error
    attempt.click_error_note = request.error_note[:500]
    attempt.confirmed_at = attempt.updated_at = now
    attempt.save(
        update_fields=[
            "status",
            "merchant_confirm_id",
            "click_error",
            "click_error_note",
            "confirmed_at",
            "updated_at",
        ]
    )
    return Answer(ClickError.SUCCESS, attempt.merchant_confirm_id)


# -- Click-side failure (error < 0) ------------------------------------------------------------


def _cancel(account: GatewayAccount, request: ClickRequest, *, by_prepare_id: bool) -> Answer:
    """Click reports that the attempt failed: un-reserve and answer -9 (spec §2.3, §2.4).

    A cancel for an attempt we do not know (Click cancels after we refused its Prepare) is
    acknowledged with -9 too: there is nothing to undo."""
    payment = _find_payment(account, request.merchant_trans_id)
    if payment is None:
        return Answer(ClickError.TRANSACTION_CANCELLED)
    attempt = (
        _attempt_for(account, request, payment.id)
        if by_prepare_id
        else ClickTransaction.objects.filter(
            gateway_account=account, click_trans_id=request.click_trans_id, payment=payment
        ).first()
    )
    if attempt is None:
        return Answer(ClickError.TRANSACTION_CANCELLED)
    attempt_id = attempt.pk
    return _guarded(lambda: _cancel_locked(account, payment.id, attempt_id, request))


def _cancel_locked(
    account: GatewayAccount, payment_id: str, attempt_id: int, request: ClickRequest
) -> Answer:
    now = clock()
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    attempt = ClickTransaction.objects.select_for_update().get(pk=attempt_id)
    if attempt.status == T.CONFIRMED:
        logger.warning(
            "click: Click sent error %s (%s) for attempt %s of %s, which it had confirmed; "
            "the payment stays paid: check it in Click's cabinet",
            request.error,
            request.error_note,
            request.click_trans_id,
            payment.id,
        )
        return Answer(cancel_of_confirmed_reply(account), attempt.merchant_confirm_id)
    if attempt.status == T.PREPARED:
        attempt.status = T.CANCELLED
        attempt.click_error = request.error
        attempt.click_error_note = request.error_note[:500]
        attempt.cancelled_at = attempt.updated_at = now
        attempt.save(
            update_fields=[
                "status",
                "click_error",
                "click_error_note",
                "cancelled_at",
                "updated_at",
            ]
        )
        _release(
            account,
            payment,
            attempt,
            now,
            failure_code=f"click_{request.error}",
            failure_message=request.error_note.strip() or "Click did not take the payment.",
        )
    return Answer(ClickError.TRANSACTION_CANCELLED)


def _release(
    account: GatewayAccount,
    payment: Payment,
    attempt: ClickTransaction | None,
    now: datetime,
    *,
    failure_code: str,
    failure_message: str,
) -> None:
    """Give a processing payment back to the customer unless another live attempt holds it."""
    if payment.status != S.PROCESSING:
        return
    others = ClickTransaction.objects.filter(
        payment=payment, status=T.PREPARED, prepared_at__gt=now - prepare_timeout(account)
    )
    if attempt is not None:
        others = others.exclude(pk=attempt.pk)
    if others.exists():
        return
    transition(
        payment.id,
        S.REQUIRES_ACTION,
        source=Source.GATEWAY,
        change=Change(failure_code=failure_code, failure_message=failure_message),
    )


# -- periodic ---------------------------------------------------------------------------------


def release_stale_reservations() -> int:
    """Give back payments that only stale prepared attempts hold in processing."""
    now = clock()
    candidates = (
        ClickTransaction.objects.filter(status=T.PREPARED, payment__status=S.PROCESSING)
        .values_list("payment_id", "gateway_account_id")
        .distinct()
    )
    released = 0
    for payment_id, account_id in list(candidates):
        account = GatewayAccount.objects.get(pk=account_id)
        with transaction.atomic():
            payment = Payment.objects.select_for_update().get(pk=payment_id)
            live = ClickTransaction.objects.filter(
                payment=payment, status=T.PREPARED, prepared_at__gt=now - prepare_timeout(account)
            )
            if payment.status != S.PROCESSING or live.exists():
                continue
            _release(
                account,
                payment,
                None,
                now,
                failure_code="click_timeout",
                failure_message="Click did not complete the payment in time.",
            )
            released += 1
    return released


# -- helpers ----------------------------------------------------------------------------------


def _find_payment(account: GatewayAccount, payment_id: str) -> Payment | None:
    """The payment Click names, if this account may take it: same organization, same mode
    (a test account never touches a live payment), in so'm."""
    if len(payment_id) > ID_MAX_LENGTH:
        return None
    payment = Payment.objects.filter(organization_id=account.organization_id, pk=payment_id).first()
    if payment is None:
        return None
    if payment.livemode == account.test_mode or payment.currency != CURRENCY:
        return None
    return payment


def _attempt_for(
    account: GatewayAccount, request: ClickRequest, payment_id: str
) -> ClickTransaction | None:
    """The attempt `merchant_prepare_id` names, if it is this request's (same account,
    payment and click_trans_id); anything else is "transaction does not exist"."""
    if request.merchant_prepare_id is None:
        return None
    return ClickTransaction.objects.filter(
        pk=request.merchant_prepare_id,
        gateway_account=account,
        payment_id=payment_id,
        click_trans_id=request.click_trans_id,
    ).first()


def _guarded(work: Callable[[], Answer]) -> Answer:
    """Run `work` in one transaction; an unexpected error rolls it back and answers -7 so
    that Click retries (and, after retries, hands it to its support)."""
    try:
        with transaction.atomic():
            return work()
    except Exception:
        logger.exception("click: could not record a Click request")
        return Answer(ClickError.FAILED_TO_UPDATE)
