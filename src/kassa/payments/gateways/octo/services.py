"""What OCTO's answers and notifications do to Kassa's payments.

Rules (see docs/gateways/octo.md):
- OCTO is called only outside database transactions (`client.py` enforces it). A change is
  committed first (a new attempt, a capture request), OCTO is called, and its answer is
  recorded in a new transaction that locks the payment first and the OCTO row second.
- A notification is never trusted for value: its signature covers neither the amount nor the
  shop's id. Before a payment is granted, OCTO is asked for the payment's status (`confirm`),
  the UUID must match, and the amount must be the one Kassa sent for this attempt (OCTO fixes
  every parameter of a shop_transaction_id on its first prepare_payment).
- Two-stage payments (`capture` option "notify" or "manual") put the Kassa payment in
  `processing` while OCTO holds the money. "notify" answers OCTO's waiting_for_capture
  notification with capture (or cancel when the payment can no longer be paid); "manual"
  leaves the decision to staff or the API (`capture_hold` / `cancel_hold` → set_accept).
- OCTO statuses canceled and failed put an open payment back to `requires_action`: the
  customer may pay again, which starts a new attempt `<payment id>-<n>`.
- Holds without news after `hold_check_minutes` are asked about (`poll_stale_holds`); the
  clock is `clock` so tests can move it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from kassa.core import audit
from kassa.core.actors import Actor
from kassa.core.errors import StateConflict
from kassa.payments.gateways.base import EventRefused, GatewayError, NormalizedEvent, Outcome
from kassa.payments.gateways.octo import protocol
from kassa.payments.gateways.octo.client import OctoClient
from kassa.payments.gateways.octo.models import OctoPayment
from kassa.payments.models import GatewayAccount, Payment, PaymentStatus
from kassa.payments.services import Change, apply_outcome, transition
from kassa.payments.states import InvalidTransition, Source

logger = logging.getLogger("kassa.payments.octo")

S = PaymentStatus
C = OctoPayment.Capture
St = protocol.Status

CAPTURE_AUTO = "auto"  # one-stage: auto_capture=true
CAPTURE_NOTIFY = "notify"  # two-stage, Kassa answers the waiting_for_capture notification
CAPTURE_MANUAL = "manual"  # two-stage, staff or the API capture or cancel the hold
CAPTURE_MODES = (CAPTURE_AUTO, CAPTURE_NOTIFY, CAPTURE_MANUAL)
DEFAULT_HOLD_CHECK_MINUTES = 30

#: The clock every OCTO timing rule reads; tests replace it.
clock: Callable[[], datetime] = timezone.now

_ENDED = frozenset({St.CANCELED, St.FAILED})

# Stored in English on the payment and translated when the checkout shows it.
NOT_TAKEN = gettext_noop("OCTO did not take the payment.")


class HoldNotOpen(StateConflict):
    code = "hold_not_open"
    default_message = "This payment has no OCTO hold waiting for a decision."


# -- configuration ------------------------------------------------------------------------------


def client_for(account: GatewayAccount) -> OctoClient:
    credentials = account.credentials
    return OctoClient(
        shop_id=credentials.get("shop_id", "0"),
        secret=credentials.get("secret", ""),
        api_url=str(account.options.get("api_url") or protocol.DEFAULT_API_URL),
    )


def capture_mode(account: GatewayAccount) -> str:
    mode = str(account.options.get("capture") or CAPTURE_AUTO)
    return mode if mode in CAPTURE_MODES else CAPTURE_AUTO


def hold_check_after(account: GatewayAccount) -> timedelta:
    minutes = account.options.get("hold_check_minutes", DEFAULT_HOLD_CHECK_MINUTES)
    return timedelta(minutes=int(minutes))


def outcome_of(status: str) -> Outcome:
    """OCTO's status as a Kassa outcome. Unknown statuses change nothing (tolerant: the list in
    the docs is cut off)."""
    if status in protocol.PAID_STATUSES:
        return Outcome.SUCCEEDED
    if status == St.WAITING_FOR_CAPTURE:
        return Outcome.PROCESSING
    if status in _ENDED:
        return Outcome.REQUIRES_ACTION  # this attempt ended; the payment may be paid again
    return Outcome.PENDING


def payment_id_of(shop_transaction_id: str) -> str:
    """`pay_x` and `pay_x-2` both belong to payment `pay_x`."""
    return shop_transaction_id.split("-", 1)[0]


# -- checkout -----------------------------------------------------------------------------------


def begin_attempt(account: GatewayAccount, payment_id: str) -> OctoPayment:
    """The attempt to send to OCTO: the open one if there is one, else a new one. Committed
    before OCTO is called, so an answer that is lost is found again by its id."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        latest = (
            OctoPayment.objects.select_for_update()
            .filter(gateway_account=account, payment=payment)
            .order_by("-attempt")
            .first()
        )
        if latest is not None and latest.status not in _ENDED:
            return latest
        number = latest.attempt + 1 if latest is not None else 1
        now = clock()
        return OctoPayment.objects.create(
            organization_id=payment.organization_id,
            gateway_account=account,
            payment=payment,
            attempt=number,
            shop_transaction_id=payment.id if number == 1 else f"{payment.id}-{number}",
            amount=payment.amount,
            currency=payment.currency,
            auto_capture=capture_mode(account) == CAPTURE_AUTO,
            test=account.test_mode,
            created_at=now,
            updated_at=now,
        )


def record_state(attempt_id: int, state: protocol.PaymentState) -> OctoPayment:
    """Remember what OCTO itself said about an attempt (never a notification's claim)."""
    with transaction.atomic():
        attempt = OctoPayment.objects.select_for_update().get(pk=attempt_id)
        _remember(attempt, state)
    return attempt


def _remember(attempt: OctoPayment, state: protocol.PaymentState) -> None:
    now = clock()
    attempt.status = state.status[:32]
    if state.octo_payment_uuid:
        attempt.octo_payment_uuid = state.octo_payment_uuid[:64]
    if state.pay_url:
        attempt.pay_url = state.pay_url[:1000]
    if state.status == St.WAITING_FOR_CAPTURE and not attempt.capture:
        attempt.capture = C.HELD
        attempt.held_at = attempt.held_at or now
    elif state.status in protocol.PAID_STATUSES and attempt.capture:
        attempt.capture = C.CAPTURED
    elif state.status in _ENDED and attempt.capture:
        attempt.capture = C.CANCELED
    attempt.checked_at = attempt.updated_at = now
    attempt.save()


def checked_amount(attempt: OctoPayment, state: protocol.PaymentState) -> int:
    """The amount OCTO holds or took for an attempt, in minor units. When OCTO's answer carries
    total_sum it must be the one Kassa sent; when it does not (the documented status answer
    has no amount) the attempt's own amount stands, as OCTO fixes it on the first call."""
    if state.total_sum is None:
        return attempt.amount
    try:
        reported = protocol.minor_units(state.total_sum, attempt.currency)
    except protocol.ProtocolError as exc:
        raise EventRefused(f"OCTO reported an unreadable amount: {exc}") from exc
    return reported


# -- notifications ------------------------------------------------------------------------------


def find_attempt(
    account: GatewayAccount, shop_transaction_id: str, uuid: str
) -> OctoPayment | None:
    attempt = OctoPayment.objects.filter(
        gateway_account=account, shop_transaction_id=shop_transaction_id
    ).first()
    if attempt is None and uuid:
        attempt = OctoPayment.objects.filter(
            gateway_account=account, octo_payment_uuid=uuid
        ).first()
    return attempt


def confirm(
    account: GatewayAccount, event: NormalizedEvent, shop_transaction_id: str
) -> NormalizedEvent:
    """Re-read a notified payment from OCTO (outside any transaction) and return the event as
    OCTO's own answer describes it. Raises EventRefused when the notification cannot be
    trusted (unknown attempt, another UUID, another amount), GatewayError to retry later."""
    attempt = find_attempt(account, shop_transaction_id, event.gateway_reference or "")
    if attempt is None:
        raise EventRefused(f"no OCTO attempt {shop_transaction_id!r} was started by Kassa")
    state = client_for(account).status(attempt.shop_transaction_id)
    if event.gateway_reference and state.octo_payment_uuid != event.gateway_reference:
        raise EventRefused(
            f"OCTO's status answer names payment {state.octo_payment_uuid}, "
            f"the notification {event.gateway_reference}"
        )
    record_state(attempt.pk, state)
    if event.amount is not None and event.amount != attempt.amount:
        raise EventRefused(
            f"the notification's total_sum ({event.amount}) is not the attempt's ({attempt.amount})"
        )
    amount = checked_amount(attempt, state)
    payment = Payment.objects.get(pk=attempt.payment_id)
    outcome = outcome_of(state.status)
    if outcome in (Outcome.SUCCEEDED, Outcome.PROCESSING) and (
        amount != payment.amount or attempt.currency != payment.currency
    ):
        logger.error(
            "octo %s: %s is %s %s but OCTO holds or took %s %s; not granted",
            account.id,
            payment.id,
            payment.amount,
            payment.currency,
            amount,
            attempt.currency,
        )
        raise EventRefused(
            f"amount mismatch: {payment.id} is {payment.amount} {payment.currency}, "
            f"OCTO reports {amount} {attempt.currency}"
        )
    if outcome in (Outcome.SUCCEEDED, Outcome.PROCESSING):
        claim(account, payment)
    return replace(
        event,
        outcome=outcome,
        payment_id=payment.id,
        gateway_reference=state.octo_payment_uuid,
        amount=amount if outcome == Outcome.SUCCEEDED else None,
        currency=attempt.currency if outcome == Outcome.SUCCEEDED else None,
        failure_code=f"octo_{state.status}" if state.status in _ENDED else None,
        failure_message=(NOT_TAKEN if state.status in _ENDED else None),
    )


def answer_hold(account: GatewayAccount, notification: protocol.Notification) -> str | None:
    """OCTO asks whether to take a held payment (status waiting_for_capture). Returns the
    accept_status to answer ("capture" or "cancel"), or None in manual mode (staff decide
    later through set_accept). The hold is read back from OCTO first; a repeated question
    gets the answer given the first time. GatewayError when OCTO cannot be asked."""
    attempt = find_attempt(
        account, notification.shop_transaction_id, notification.octo_payment_uuid
    )
    if attempt is None:
        logger.warning(
            "octo %s: hold for unknown attempt %s; answered cancel",
            account.id,
            notification.shop_transaction_id,
        )
        return "cancel"
    if attempt.accept_answer:
        return attempt.accept_answer
    state = client_for(account).status(attempt.shop_transaction_id)
    verified = (
        state.octo_payment_uuid == notification.octo_payment_uuid
        and state.status == St.WAITING_FOR_CAPTURE
    )
    notified_amount_ok = True
    if notification.total_sum is not None:
        try:
            notified_amount_ok = (
                protocol.minor_units(notification.total_sum, attempt.currency) == attempt.amount
            )
        except protocol.ProtocolError:
            notified_amount_ok = False
    try:
        amount_ok = notified_amount_ok and checked_amount(attempt, state) == attempt.amount
    except EventRefused:
        amount_ok = False
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=attempt.payment_id)
        locked = OctoPayment.objects.select_for_update().get(pk=attempt.pk)
        if locked.accept_answer:
            return locked.accept_answer  # a concurrent copy of the question was answered
        _remember(locked, state)
        if not verified:
            # OCTO's own answer says this is not (or no longer) a hold: nothing to decide.
            return None
        payable = (
            payment.status in (S.PENDING, S.REQUIRES_ACTION, S.PROCESSING)
            and amount_ok
            and payment.amount == locked.amount
            and payment.currency == locked.currency
        )
        if payable:
            claim(account, payment)
        if payable and payment.status != S.PROCESSING:
            transition(
                payment.id,
                S.PROCESSING,
                source=Source.GATEWAY,
                change=Change(gateway_reference=locked.octo_payment_uuid),
            )
        if payable and capture_mode(account) == CAPTURE_MANUAL:
            locked.capture = C.HELD
            locked.save(update_fields=["capture"])
            return None
        answer = "capture" if payable else "cancel"
        if not payable:
            logger.warning(
                "octo %s: hold %s for %s (%s) cancelled: the payment cannot take it",
                account.id,
                locked.octo_payment_uuid,
                payment.id,
                payment.status,
            )
        locked.accept_answer = answer
        locked.capture = C.CAPTURE_REQUESTED if payable else C.CANCEL_REQUESTED
        locked.save(update_fields=["accept_answer", "capture"])
        return answer


# -- staff and API decisions on a hold ------------------------------------------------------------


def has_open_hold(payment: Payment) -> bool:
    return (
        payment.status == S.PROCESSING
        and OctoPayment.objects.filter(payment=payment, capture=C.HELD).exists()
    )


def open_hold(payment: Payment) -> OctoPayment:
    attempt = (
        OctoPayment.objects.filter(payment=payment, capture__in=[C.HELD])
        .order_by("-attempt")
        .first()
    )
    if attempt is None or payment.status != S.PROCESSING:
        raise HoldNotOpen()
    return attempt


def capture_hold(payment: Payment, actor: Actor, reason: str = "") -> Payment:
    """Take the held money: set_accept capture, then record what OCTO answers."""
    return _decide(payment, actor, reason, "capture")


def cancel_hold(payment: Payment, actor: Actor, reason: str = "") -> Payment:
    """Release the held money and cancel the payment: set_accept cancel."""
    return _decide(payment, actor, reason, "cancel")


def _decide(payment: Payment, actor: Actor, reason: str, decision: str) -> Payment:
    requested = C.CAPTURE_REQUESTED if decision == "capture" else C.CANCEL_REQUESTED
    with transaction.atomic():
        locked_payment = Payment.objects.select_for_update().get(pk=payment.pk)
        attempt = open_hold(locked_payment)
        attempt = OctoPayment.objects.select_for_update().get(pk=attempt.pk)
        if attempt.capture != C.HELD:
            raise HoldNotOpen()
        attempt.capture = requested
        attempt.updated_at = clock()
        attempt.save(update_fields=["capture", "updated_at"])
        audit.record(
            actor=actor,
            action=f"payment.octo_{decision}",
            organization_id=payment.organization_id,
            obj=locked_payment,
            reason=reason,
            before={"capture": C.HELD},
            after={"capture": requested},
        )
    account = GatewayAccount.objects.get(pk=attempt.gateway_account_id)
    try:
        state = client_for(account).set_accept(attempt.octo_payment_uuid, decision)
    except protocol.OctoRefused as refused:
        # OCTO refused the decision (the hold expired, say): read the real state.
        logger.warning("octo set_accept %s refused: %s", attempt.octo_payment_uuid, refused)
        state = client_for(account).status(attempt.shop_transaction_id)
    apply_state(account, attempt.pk, state)
    if decision == "cancel":
        return _close_after_cancel(payment.pk, attempt.pk, actor, reason)
    return Payment.objects.get(pk=payment.pk)


def _close_after_cancel(payment_id: str, attempt_id: int, actor: Actor, reason: str) -> Payment:
    """A hold released at the merchant's request ends the payment (canceled), once OCTO says
    the hold is gone; until then the payment stays processing and the poll asks again."""
    attempt = OctoPayment.objects.get(pk=attempt_id)
    payment = Payment.objects.get(pk=payment_id)
    if attempt.status not in _ENDED or payment.status != S.REQUIRES_ACTION:
        return payment
    source = Source.STAFF if actor.type == "staff" else Source.API
    return transition(
        payment.id,
        S.CANCELED,
        source=source,
        change=Change(reason=reason or "hold canceled"),
        actor=actor,
    )


def apply_state(account: GatewayAccount, attempt_id: int, state: protocol.PaymentState) -> Payment:
    """Record OCTO's own answer about an attempt and move the payment accordingly."""
    attempt = record_state(attempt_id, state)
    payment = Payment.objects.get(pk=attempt.payment_id)
    outcome = outcome_of(state.status)
    if outcome == Outcome.PENDING:
        return payment
    amount = checked_amount(attempt, state)
    change = Change(
        gateway_reference=attempt.octo_payment_uuid or None,
        amount=amount if outcome == Outcome.SUCCEEDED else None,
        currency=attempt.currency if outcome == Outcome.SUCCEEDED else None,
        failure_code=f"octo_{state.status}" if state.status in _ENDED else None,
        failure_message=(NOT_TAKEN if state.status in _ENDED else None),
    )
    if outcome in (Outcome.SUCCEEDED, Outcome.PROCESSING):
        claim(account, payment)
    try:
        return apply_outcome(payment.id, outcome, Source.GATEWAY, change=change)
    except InvalidTransition:
        return Payment.objects.get(pk=payment.id)


def claim(account: GatewayAccount, payment: Payment) -> None:
    """OCTO holds or took the money for this payment: if the customer had meanwhile chosen
    another gateway, the payment follows OCTO's account again, so that the ledger's clearing
    account, refunds and reconciliation point at the provider that has the money."""
    if payment.gateway_account_id == account.id:
        return
    with transaction.atomic():
        Payment.objects.filter(
            pk=payment.id, status__in=[S.PENDING, S.REQUIRES_ACTION, S.PROCESSING]
        ).update(gateway_account=account, updated_at=timezone.now())
    payment.gateway_account_id = account.id


# -- periodic -----------------------------------------------------------------------------------


def poll_stale_holds() -> int:
    """Ask OCTO about holds that saw no news for `hold_check_minutes` (OCTO may have captured
    or auto-cancelled them: its window is 30 minutes on one page, 7 to 30 days on another)."""
    now = clock()
    candidates = OctoPayment.objects.filter(
        capture__in=[C.HELD, C.CAPTURE_REQUESTED, C.CANCEL_REQUESTED],
        held_at__isnull=False,
    ).select_related("gateway_account")
    asked = 0
    for attempt in list(candidates):
        account = attempt.gateway_account
        last_news = max(d for d in (attempt.held_at, attempt.checked_at) if d is not None)
        if last_news > now - hold_check_after(account):
            continue
        try:
            state = client_for(account).status(attempt.shop_transaction_id)
        except (GatewayError, protocol.OctoRefused) as exc:
            logger.warning("octo: could not read hold %s: %s", attempt.shop_transaction_id, exc)
            continue
        apply_state(account, attempt.pk, state)
        asked += 1
    return asked
