"""What the Payme Merchant API methods do to Kassa's payments.

Each method returns the `result` object or raises `PaymeFault`. Every change happens in ONE
database transaction that locks the payment first and the Payme transaction second (then
`transition` locks the ledger accounts), so two identical calls at the same moment change
state once; the unique constraints on `PaymeTransaction` back that up on any database.

Decisions (see docs/gateways/payme.md):
- One-time accounts: the account field (`account_field`, default `order_id`) carries the
  Kassa payment id. CreateTransaction reserves the payment (it becomes `processing`, so it
  cannot be canceled, expire or be paid elsewhere); a transaction with another Payme id for a
  reserved payment is refused with -31051, a paid one with -31052, a closed one with -31053.
- PerformTransaction succeeds the payment (ledger posted by `transition`) in the same
  transaction that marks the Payme transaction performed.
- CancelTransaction of a created transaction gives the payment back (`requires_action`);
  of a performed one it refunds the payment (state -2) where its purpose allows a refund and
  the account's `cancel_after_perform` option is `refund`, otherwise -31007.
- The 12-hour rule counts from Payme's `time`: a created transaction older than 43 200 000 ms
  is cancelled with reason 4 by the next Create or Perform for it, which answers -31008. An
  expired created transaction of another Payme id no longer blocks the payment.
- Repeated calls answer with the stored times, never with "now".
The clock is `clock` (milliseconds); tests replace it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from kassa.core.actors import Actor
from kassa.core.errors import KassaError
from kassa.core.ids import ID_MAX_LENGTH
from kassa.payments.gateways.base import AccountConfig
from kassa.payments.gateways.payme import repository
from kassa.payments.gateways.payme.models import PaymeTransaction
from kassa.payments.gateways.payme.protocol import (
    PaymeError,
    PaymeFault,
    param_account,
    param_amount,
    param_id,
    param_int,
    param_timestamp,
)
from kassa.payments.models import GatewayAccount, Payment, PaymentStatus
from kassa.payments.purposes import purpose_of
from kassa.payments.services import Change, transition
from kassa.payments.states import Source

logger = logging.getLogger("kassa.payments.payme")

S = PaymentStatus
State = PaymeTransaction.State
CURRENCY = "UZS"
#: "Отмена транзакции по таймауту производится через 12 часов — 43 200 000 мс" [DOC].
TIMEOUT_MS = 43_200_000
REASON_TIMEOUT = 4
DEFAULT_ACCOUNT_FIELD = "order_id"
_ACTIVE = (State.CREATED, State.PERFORMED)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


#: The clock every Payme timing rule reads (milliseconds since the epoch); tests replace it.
clock: Callable[[], int] = _now_ms


@dataclass(frozen=True)
class Context:
    """What a call needs to know about the gateway account it arrived on."""

    account_id: str
    organization_id: str
    test_mode: bool
    enabled: bool
    account_field: str = DEFAULT_ACCOUNT_FIELD
    null_unset_times: bool = False
    cancel_after_perform: str = "refund"

    @classmethod
    def of(cls, config: AccountConfig) -> Context:
        options = config.options
        return cls(
            account_id=config.id,
            organization_id=config.organization_id,
            test_mode=config.test_mode,
            enabled=config.enabled,
            account_field=str(options.get("account_field") or DEFAULT_ACCOUNT_FIELD),
            null_unset_times=bool(options.get("null_unset_times", False)),
            cancel_after_perform=str(options.get("cancel_after_perform") or "refund"),
        )


# -- CheckPerformTransaction -----------------------------------------------------------------


def check_perform_transaction(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    now = clock()
    payment_id = _account_value(ctx, params)
    # One query: the payment and whether Payme transactions hold it (live or expired).
    payment = _usable(
        ctx, repository.payment_with_holds(payment_id, ctx.organization_id, now - TIMEOUT_MS)
    )
    if param_amount(params) != payment.amount:
        raise PaymeFault(PaymeError.WRONG_AMOUNT, "amount")
    held = bool(getattr(payment, "payme_held", False))
    live = bool(getattr(payment, "payme_live", False))
    _check_open(ctx, payment, now, held=held, live=live)
    return {"allow": True}


# -- CreateTransaction ------------------------------------------------------------------------


def create_transaction(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    payme_id = param_id(params)
    payme_time = param_timestamp(params, "time")
    payment_id = _account_value(ctx, params)
    amount = param_amount(params)
    account = params.get("account") or {}
    return _commit(lambda: _create_locked(ctx, payment_id, payme_id, payme_time, amount, account))


def _create_locked(
    ctx: Context,
    payment_id: str,
    payme_id: str,
    payme_time: int,
    amount: int,
    account: dict[str, Any],
) -> dict[str, Any] | PaymeFault:
    now = clock()
    # One round trip locks the payment, then this Payme id's transaction and whatever holds
    # the payment (found by the id asked for: none if the payment does not exist).
    payment, found = repository.lock_for_create(
        ctx.account_id, ctx.organization_id, payment_id, payme_id
    )
    payment = _usable(ctx, payment)
    if amount != payment.amount:
        return PaymeFault(PaymeError.WRONG_AMOUNT, "amount")
    existing = next(
        (t for t in found if t.gateway_account_id == ctx.account_id and t.payme_id == payme_id),
        None,
    )
    if existing is not None:
        if existing.payment_id != payment.id or existing.state != State.CREATED:
            return PaymeFault(PaymeError.CANNOT_PERFORM, "transaction")
        if _expired(existing, now):
            _cancel_created(existing, payment, REASON_TIMEOUT, now)
            return PaymeFault(PaymeError.CANNOT_PERFORM, "transaction", "expired")
        return _created_result(existing)  # a repeat: the first answer again
    held = bool(found)
    live = False
    for holder in found:
        if _expired(holder, now):
            _cancel_created(holder, payment, REASON_TIMEOUT, now)  # it holds nothing now
        else:
            live = True
    _check_open(ctx, payment, now, held=held, live=live)
    created = PaymeTransaction(
        organization_id=payment.organization_id,
        gateway_account_id=ctx.account_id,
        payment_id=payment.id,
        payme_id=payme_id,
        payme_time=payme_time,
        amount=amount,
        account=account,
        state=State.CREATED,
        create_time=now,
    )
    repository.insert_transaction(created)
    if payment.gateway_account_id != ctx.account_id:
        # Paid through this account (Payme can reach any order): refunds, the ledger's
        # clearing account and reconciliation follow it.
        payment.gateway_account_id = ctx.account_id
    transition(
        payment.id,
        S.PROCESSING,
        source=Source.GATEWAY,
        change=Change(gateway_reference=payme_id),
        locked=payment,
    )
    return _created_result(created)


def _created_result(txn: PaymeTransaction) -> dict[str, Any]:
    return {
        "create_time": txn.create_time,
        "transaction": str(txn.pk),
        "state": txn.state,
        "receivers": None,
    }


# -- PerformTransaction -----------------------------------------------------------------------


def perform_transaction(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    payme_id = param_id(params)
    return _commit(lambda: _perform_locked(ctx, payme_id))


def _perform_locked(ctx: Context, payme_id: str) -> dict[str, Any] | PaymeFault:
    now = clock()
    payment, txn = _lock(ctx, payme_id)
    if txn.state == State.PERFORMED:
        return _performed_result(txn)
    if txn.state != State.CREATED:
        return PaymeFault(PaymeError.CANNOT_PERFORM, "transaction")
    if _expired(txn, now):
        _cancel_created(txn, payment, REASON_TIMEOUT, now)
        return PaymeFault(PaymeError.CANNOT_PERFORM, "transaction", "expired")
    if payment.status == S.SUCCEEDED:
        # Staff marked it paid while Payme held it: refuse, so Payme does not debit twice.
        logger.warning("payme: perform of %s refused: %s is already paid", txn.payme_id, payment.id)
        return PaymeFault(PaymeError.CANNOT_PERFORM, "transaction")
    transition(
        payment.id,
        S.SUCCEEDED,
        source=Source.GATEWAY,
        change=Change(gateway_reference=txn.payme_id, amount=txn.amount, currency=CURRENCY),
        locked=payment,
    )
    txn.state = State.PERFORMED
    txn.perform_time = now
    txn.updated_at = timezone.now()
    repository.save_transaction(txn, ["state", "perform_time", "updated_at"])
    return _performed_result(txn)


def _performed_result(txn: PaymeTransaction) -> dict[str, Any]:
    return {"transaction": str(txn.pk), "perform_time": txn.perform_time, "state": txn.state}


# -- CancelTransaction ------------------------------------------------------------------------


def cancel_transaction(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    payme_id = param_id(params)
    reason = param_int(params, "reason")  # stored verbatim, whatever Payme's list says
    return _commit(lambda: _cancel_locked(ctx, payme_id, reason))


def _cancel_locked(ctx: Context, payme_id: str, reason: int) -> dict[str, Any] | PaymeFault:
    now = clock()
    payment, txn = _lock(ctx, payme_id)
    if txn.state == State.CREATED:
        _cancel_created(txn, payment, reason, now)
    elif txn.state == State.PERFORMED:
        refused = _refund_performed(ctx, txn, payment, reason, now)
        if refused is not None:
            return refused
    return _cancelled_result(txn)


def _cancel_created(txn: PaymeTransaction, payment: Payment, reason: int, now: int) -> None:
    """State 1 → -1, and the payment is given back to the customer (payable again)."""
    txn.state = State.CANCELLED
    txn.reason = reason
    txn.cancel_time = now
    txn.updated_at = timezone.now()
    repository.save_transaction(txn, ["state", "reason", "cancel_time", "updated_at"])
    if payment.status == S.PROCESSING:
        message = (
            "Payme cancelled the transaction: it was not completed in time."
            if reason == REASON_TIMEOUT
            else f"Payme cancelled the transaction (reason {reason})."
        )
        transition(
            payment.id,
            S.REQUIRES_ACTION,
            source=Source.GATEWAY,
            change=Change(failure_code=f"payme_reason_{reason}", failure_message=message),
            locked=payment,
        )


def _refund_performed(
    ctx: Context, txn: PaymeTransaction, payment: Payment, reason: int, now: int
) -> PaymeFault | None:
    """State 2 → -2 through a refund, or -31007 when the order may not be given back."""
    from kassa.payments.refunds import record_gateway_refund, refundable_amount

    refusal = PaymeFault(PaymeError.CANNOT_CANCEL, "transaction")
    if ctx.cancel_after_perform != "refund" or payment.status != S.SUCCEEDED:
        return refusal
    if not purpose_of(payment.purpose).can_refund(payment, txn.amount):
        return refusal
    if refundable_amount(payment) < txn.amount:
        return refusal
    try:
        refund = record_gateway_refund(
            payment.id,
            amount=txn.amount,
            gateway_reference=f"payme:{txn.payme_id}",
            reason=f"Payme CancelTransaction, reason {reason}",
        )
    except KassaError as exc:  # e.g. the money is spent (InsufficientFunds): keep it paid
        logger.warning("payme: cancel of %s refused: %s", txn.payme_id, exc)
        return refusal
    txn.state = State.CANCELLED_AFTER_PERFORM
    txn.reason = reason
    txn.cancel_time = now
    txn.refund = refund
    txn.updated_at = timezone.now()
    txn.save(update_fields=["state", "reason", "cancel_time", "refund", "updated_at"])
    return None


def _cancelled_result(txn: PaymeTransaction) -> dict[str, Any]:
    return {"transaction": str(txn.pk), "cancel_time": txn.cancel_time, "state": txn.state}


# -- CheckTransaction, GetStatement -----------------------------------------------------------


def check_transaction(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    txn = (
        PaymeTransaction.objects.filter(
            gateway_account_id=ctx.account_id, payme_id=param_id(params)
        )
        .only("pk", "state", "reason", "create_time", "perform_time", "cancel_time")
        .first()
    )
    if txn is None:
        raise PaymeFault(PaymeError.TRANSACTION_NOT_FOUND, "id")
    return {
        "create_time": txn.create_time,
        "perform_time": _time(ctx, txn.perform_time),
        "cancel_time": _time(ctx, txn.cancel_time),
        "transaction": str(txn.pk),
        "state": txn.state,
        "reason": txn.reason,
    }


def get_statement(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    start = param_timestamp(params, "from")
    end = param_timestamp(params, "to")
    if start > end:
        raise PaymeFault(PaymeError.INVALID_REQUEST, "from")
    rows = PaymeTransaction.objects.filter(
        gateway_account_id=ctx.account_id, payme_time__gte=start, payme_time__lte=end
    ).order_by("payme_time", "id")
    return {
        "transactions": [
            {
                "id": txn.payme_id,
                "time": txn.payme_time,
                "amount": txn.amount,
                "account": txn.account,
                "create_time": txn.create_time,
                "perform_time": _time(ctx, txn.perform_time),
                "cancel_time": _time(ctx, txn.cancel_time),
                "transaction": str(txn.pk),
                "state": txn.state,
                "reason": txn.reason,
                "receivers": None,
            }
            for txn in rows
        ]
    }


def _time(ctx: Context, value: int) -> int | None:
    """An unset time is sent as 0 (UNCONFIRMED; the `null_unset_times` option sends null)."""
    if value == 0 and ctx.null_unset_times:
        return None
    return value


# -- SetFiscalData, ChangePassword ------------------------------------------------------------

FISCAL_TYPES = ("PERFORM", "CANCEL")


def set_fiscal_data(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    payme_id = param_id(params)
    kind = params.get("type")
    if kind not in FISCAL_TYPES:
        raise PaymeFault(PaymeError.INVALID_REQUEST, "type")
    data = params.get("fiscal_data")
    if not isinstance(data, dict):
        raise PaymeFault(PaymeError.INVALID_REQUEST, "fiscal_data")
    with transaction.atomic():
        txn = (
            PaymeTransaction.objects.select_for_update()
            .filter(gateway_account_id=ctx.account_id, payme_id=payme_id)
            .first()
        )
        if txn is None:
            raise PaymeFault(PaymeError.TRANSACTION_NOT_FOUND, "id")
        txn.fiscal_data = {**txn.fiscal_data, kind: data}
        txn.updated_at = timezone.now()
        txn.save(update_fields=["fiscal_data", "updated_at"])
    return {"success": True}


def change_password(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Payme's cabinet sets a new cash-desk key; it replaces the stored (encrypted) one.

    Reference behaviour from the official PHP template (UNCONFIRMED in the docs): an empty
    password is -31050 with data "password"; the current key again is -32504."""
    from kassa.payments.accounts import update_gateway_account

    password = params.get("password")
    if not isinstance(password, str) or not password.strip():
        raise PaymeFault(PaymeError.ACCOUNT_NOT_FOUND, "password", "password")
    account = GatewayAccount.objects.get(pk=ctx.account_id)
    if account.credentials.get("key") == password:
        raise PaymeFault(PaymeError.INSUFFICIENT_PRIVILEGE, "password", "same_password")
    update_gateway_account(
        account, {"credentials": {"key": password}}, actor=Actor.system("payme ChangePassword")
    )
    logger.info("payme %s: the key was changed by ChangePassword", ctx.account_id)
    return {"success": True}


METHODS: dict[str, Callable[[Context, dict[str, Any]], dict[str, Any]]] = {
    "CheckPerformTransaction": check_perform_transaction,
    "CreateTransaction": create_transaction,
    "PerformTransaction": perform_transaction,
    "CancelTransaction": cancel_transaction,
    "CheckTransaction": check_transaction,
    "GetStatement": get_statement,
    "SetFiscalData": set_fiscal_data,
    "ChangePassword": change_password,
}


# -- helpers ----------------------------------------------------------------------------------


def _account_value(ctx: Context, params: dict[str, Any]) -> str:
    """The account field's value: the Kassa payment id (-31050 naming the field if absent)."""
    payment_id = param_account(params, ctx.account_field)
    if not ctx.enabled or len(payment_id) > ID_MAX_LENGTH:
        raise PaymeFault(PaymeError.ACCOUNT_NOT_FOUND, ctx.account_field)
    return payment_id


def _usable(ctx: Context, payment: Payment | None) -> Payment:
    """The payment, if this account may take it: found in the account's organization, in the
    same mode (a test account never touches a live payment), in so'm; else -31050."""
    if payment is None or payment.livemode == ctx.test_mode or payment.currency != CURRENCY:
        raise PaymeFault(PaymeError.ACCOUNT_NOT_FOUND, ctx.account_field)
    return payment


def _check_open(ctx: Context, payment: Payment, now: int, *, held: bool, live: bool) -> None:
    """Raise the account error that says why `payment` cannot take a new transaction.

    `held`: Payme transactions (state 1 or 2) hold it; `live`: one of them is performed or
    not expired (an expired one no longer blocks the order)."""
    field = ctx.account_field
    if payment.status == S.SUCCEEDED:
        raise PaymeFault(PaymeError.ACCOUNT_PAID, field)
    if payment.status in (S.CANCELED, S.EXPIRED, S.FAILED):
        raise PaymeFault(PaymeError.ACCOUNT_CLOSED, field)
    if live or (payment.status == S.PROCESSING and not held):
        raise PaymeFault(PaymeError.ACCOUNT_BUSY, field)  # Payme or another gateway holds it
    if (
        payment.status != S.PROCESSING
        and payment.expires_at is not None
        and payment.expires_at <= datetime.fromtimestamp(now / 1000, tz=UTC)
    ):
        raise PaymeFault(PaymeError.ACCOUNT_CLOSED, field)  # the checkout expired unpaid


def _expired(txn: PaymeTransaction, now: int) -> bool:
    return txn.state == State.CREATED and now - txn.payme_time > TIMEOUT_MS


def _lock(ctx: Context, payme_id: str) -> tuple[Payment, PaymeTransaction]:
    """Lock the payment of this account's transaction `payme_id` (by subquery), then the
    transaction: the same order as CreateTransaction, so no deadlocks. One round trip."""
    payment, txn = repository.lock_by_payme_id(ctx.account_id, payme_id)
    if payment is None:
        raise PaymeFault(PaymeError.TRANSACTION_NOT_FOUND, "id")
    assert txn is not None  # its payment is locked: it cannot have gone away
    return payment, txn


def _commit(work: Callable[[], dict[str, Any] | PaymeFault]) -> dict[str, Any]:
    """Run `work` in one transaction. A fault it returns (rather than raises) is answered
    after the commit: the timeout cancel it made must stay."""
    with transaction.atomic():
        outcome = work()
    if isinstance(outcome, PaymeFault):
        raise outcome
    return outcome
