"""Auto top-up: charge the customer's saved payment method off-session when the balance falls
below their threshold.

Started by a charge that crosses the threshold (a task enqueued in the charge's transaction)
and by a periodic monitor for wallets still below it. The rules, checked under the wallet's row
lock when an attempt starts:
- never two attempts in flight for one wallet (also a partial unique index);
- a cooldown after every attempt (default 60 minutes, per organization and currency);
- at most `auto_topup_daily_limit` attempts in any 24 hours.
The attempt and its top-up are committed before the provider is called; the payment's outcome
(now, or later through a webhook or reconciliation) reaches the attempt through the top-up
purpose. A decline that needs the customer (`authentication_required`) is not retried: the
customer gets an email with a link to confirm the payment on-session. After 3 consecutive
failures auto top-up switches itself off and the customer and the organization are told.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from kassa.core.errors import InvalidRequest, KassaError, ResourceMissing
from kassa.core.money import format_money, validate_amount
from kassa.events.services import emit
from kassa.notifications.services import notify, notify_staff
from kassa.payments import services as payments
from kassa.payments.gateways.registry import gateway_for
from kassa.payments.links import checkout_url
from kassa.payments.models import Payment, PaymentMethod, PaymentStatus
from kassa.wallets.models import AutoTopUpAttempt, TopUp, TopUpStatus, Wallet
from kassa.wallets.purposes import PURPOSE
from kassa.wallets.representations import attempt_dict, wallet_dict
from kassa.wallets.rules import check_topup_amount, settings_for
from kassa.wallets.topups import new_topup

MAX_CONSECUTIVE_FAILURES = 3
# An attempt whose payment was never created (the process died in between) is given up after.
ABANDONED_AFTER = timedelta(minutes=15)
A = AutoTopUpAttempt.Status


def configure(
    wallet: Wallet,
    *,
    enabled: bool,
    threshold: Any = None,
    amount: Any = None,
    payment_method_id: str | None = None,
) -> Wallet:
    """Set a wallet's auto top-up; enabling it clears earlier failures."""
    with transaction.atomic():
        locked = Wallet.objects.select_for_update().get(pk=wallet.pk)
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, int):
                raise InvalidRequest("threshold is an integer amount.", param="threshold")
            locked.auto_topup_threshold = threshold
        if amount is not None:
            locked.auto_topup_amount = validate_amount(amount, locked.currency)
        if payment_method_id is not None:
            method = (
                PaymentMethod.objects.filter(
                    organization_id=wallet.organization_id,
                    pk=payment_method_id,
                    status=PaymentMethod.Status.ACTIVE,
                )
                .select_related("gateway_account")
                .first()
            )
            if method is None:
                raise ResourceMissing(
                    f"No such payment method: {payment_method_id!r}.", param="payment_method"
                )
            if method.customer_id != wallet.customer_id:
                raise InvalidRequest(
                    "The payment method belongs to another customer.", param="payment_method"
                )
            if not gateway_for(method.gateway_account).capabilities.off_session:
                raise InvalidRequest(
                    "This provider cannot charge saved payment methods.", param="payment_method"
                )
            locked.auto_topup_payment_method = method
        if enabled:
            if locked.auto_topup_payment_method_id is None:
                raise InvalidRequest(
                    "Auto top-up needs a saved payment_method.", param="payment_method"
                )
            check_topup_amount(
                settings_for(wallet.organization_id, wallet.currency),
                locked.auto_topup_amount,
            )
            locked.auto_topup_failures = 0
            locked.auto_topup_disabled_reason = ""
        locked.auto_topup_enabled = enabled
        locked.save(
            update_fields=[
                "auto_topup_enabled",
                "auto_topup_threshold",
                "auto_topup_amount",
                "auto_topup_payment_method",
                "auto_topup_failures",
                "auto_topup_disabled_reason",
            ]
        )
        locked.ledger_account = wallet.ledger_account
        emit(wallet.organization_id, "wallet.updated", wallet_dict(locked))
        if enabled and wallet.ledger_account.balance < locked.auto_topup_threshold:
            from kassa.wallets.tasks import start_auto_topup

            start_auto_topup.enqueue(wallet.id, AutoTopUpAttempt.Trigger.MONITOR)
    return locked


def start(wallet_id: str, trigger: str) -> str:
    """Start one attempt if the rules allow it; answer what happened (for logs and tests)."""
    now = timezone.now()
    with transaction.atomic():
        wallet = (
            Wallet.objects.select_for_update(of=("self",))
            .select_related("ledger_account", "auto_topup_payment_method__gateway_account")
            .filter(pk=wallet_id)
            .first()
        )
        if wallet is None or not wallet.auto_topup_enabled:
            return "disabled"
        balance = wallet.ledger_account.balance
        if balance >= wallet.auto_topup_threshold:
            return "not_needed"
        attempts = AutoTopUpAttempt.objects.filter(wallet=wallet)
        if attempts.filter(status=A.IN_FLIGHT).exists():
            return "in_flight"
        rules = settings_for(wallet.organization_id, wallet.currency)
        cooldown = timedelta(minutes=rules.auto_topup_cooldown_minutes)
        if attempts.filter(created_at__gt=now - cooldown).exists():
            return "cooldown"
        if attempts.filter(created_at__gt=now - timedelta(days=1)).count() >= (
            rules.auto_topup_daily_limit
        ):
            return "daily_cap"
        topup: TopUp | None = None
        refusal: InvalidRequest | None = None
        try:
            topup = new_topup(wallet, wallet.auto_topup_amount, TopUp.Source.AUTO)
        except InvalidRequest as exc:  # the organization's bounds changed since it was set
            refusal = exc
        attempt = AutoTopUpAttempt(
            organization_id=wallet.organization_id,
            wallet=wallet,
            amount=wallet.auto_topup_amount,
            currency=wallet.currency,
            trigger=trigger,
            balance_at_start=balance,
        )
        try:
            with transaction.atomic():
                if topup is not None:
                    topup.save(force_insert=True)
                    attempt.topup = topup
                attempt.save(force_insert=True)
        except IntegrityError:
            return "in_flight"
        if topup is None:
            assert refusal is not None
            attempt_failed(attempt, wallet, code=refusal.code, message=refusal.message)
            return "failed"
    method = wallet.auto_topup_payment_method
    assert method is not None
    assert method.gateway_account is not None
    try:
        payment = payments.create_payment(
            wallet.organization,
            amount=topup.amount,
            currency=wallet.currency,
            livemode=not method.gateway_account.test_mode,
            customer_id=wallet.customer_id,
            description=f"Wallet auto top-up {topup.id}",
            purpose=PURPOSE,
            purpose_id=topup.id,
            payment_method_id=method.id,
        )
    except KassaError as exc:
        with transaction.atomic():
            TopUp.objects.filter(pk=topup.id, status=TopUpStatus.PENDING).update(
                status=TopUpStatus.FAILED
            )
            attempt_failed(attempt, wallet, code=exc.code, message=exc.message)
        return "failed"
    TopUp.objects.filter(pk=topup.id, payment__isnull=True).update(payment=payment)
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        _requires_action(attempt, wallet, payment)
    return AutoTopUpAttempt.objects.values_list("status", flat=True).get(pk=attempt.pk)


def attempt_succeeded(attempt: AutoTopUpAttempt, wallet: Wallet) -> None:
    """In the transaction that credited the top-up."""
    AutoTopUpAttempt.objects.filter(pk=attempt.pk).update(
        status=A.SUCCEEDED, finished_at=timezone.now(), failure_code="", failure_message=""
    )
    Wallet.objects.filter(pk=wallet.pk).update(auto_topup_failures=0)
    attempt.refresh_from_db()
    emit(wallet.organization_id, "wallet.auto_topup.succeeded", attempt_dict(attempt))


def attempt_failed(attempt: AutoTopUpAttempt, wallet: Wallet, *, code: str, message: str) -> None:
    """Record a failed attempt (inside a transaction); the third in a row disables auto top-up.

    An attempt already waiting for the customer's confirmation was counted then; its payment
    expiring later only closes it."""
    counted = attempt.status == A.IN_FLIGHT
    updated = AutoTopUpAttempt.objects.filter(
        pk=attempt.pk, status__in=[A.IN_FLIGHT, A.REQUIRES_ACTION]
    ).update(
        status=A.FAILED,
        failure_code=(code or "failed")[:64],
        failure_message=(message or "")[:500],
        finished_at=timezone.now(),
    )
    if not updated:
        return
    attempt.refresh_from_db()
    if counted:
        _count_failure(attempt, wallet)


def _requires_action(attempt: AutoTopUpAttempt, wallet: Wallet, payment: Payment) -> None:
    with transaction.atomic():
        updated = AutoTopUpAttempt.objects.filter(pk=attempt.pk, status=A.IN_FLIGHT).update(
            status=A.REQUIRES_ACTION,
            failure_code=(payment.failure_code or "authentication_required")[:64],
            failure_message=payment.failure_message[:500],
            finished_at=timezone.now(),
        )
        if not updated:
            return
        attempt.refresh_from_db()
        customer = wallet.customer
        notify(
            wallet.organization_id,
            "wallet.auto_topup_confirm",
            customer_id=customer.id,
            context={
                "wallet_id": wallet.id,
                "amount": format_money(attempt.amount, wallet.currency, customer.preferred_locale),
                "confirm_url": checkout_url(payment.id),
            },
            dedupe_key=f"{attempt.id}:confirm",
        )
        _count_failure(attempt, wallet)


def _count_failure(attempt: AutoTopUpAttempt, wallet: Wallet) -> None:
    Wallet.objects.filter(pk=wallet.pk).update(auto_topup_failures=F("auto_topup_failures") + 1)
    fresh = Wallet.objects.select_related("ledger_account", "customer").get(pk=wallet.pk)
    emit(wallet.organization_id, "wallet.auto_topup.failed", attempt_dict(attempt))
    if fresh.auto_topup_enabled and fresh.auto_topup_failures >= MAX_CONSECUTIVE_FAILURES:
        _disable(fresh, attempt)


def _disable(wallet: Wallet, attempt: AutoTopUpAttempt) -> None:
    reason = f"{wallet.auto_topup_failures} consecutive failures (last: {attempt.failure_code})"
    Wallet.objects.filter(pk=wallet.pk).update(
        auto_topup_enabled=False, auto_topup_disabled_reason=reason[:200]
    )
    wallet.auto_topup_enabled = False
    wallet.auto_topup_disabled_reason = reason[:200]
    emit(wallet.organization_id, "wallet.auto_topup.disabled", wallet_dict(wallet))
    context = {
        "wallet_id": wallet.id,
        "failures": wallet.auto_topup_failures,
        "failure_code": attempt.failure_code,
        "customer_name": wallet.customer.name or wallet.customer.email or wallet.customer_id,
    }
    notify(
        wallet.organization_id,
        "wallet.auto_topup_disabled",
        customer_id=wallet.customer_id,
        context=context,
        dedupe_key=f"{attempt.id}:disabled",
    )
    notify_staff(
        wallet.organization_id,
        "wallet.auto_topup_disabled_staff",
        context=context,
        roles=("owner", "admin"),
        dedupe_key=f"{attempt.id}:disabled_staff",
    )


def monitor() -> int:
    """Periodic: start attempts for wallets below their threshold; close abandoned attempts."""
    from kassa.wallets.tasks import start_auto_topup

    stale = AutoTopUpAttempt.objects.filter(
        status=A.IN_FLIGHT,
        created_at__lt=timezone.now() - ABANDONED_AFTER,
    ).filter(topup__payment__isnull=True)
    for attempt in stale.select_related("wallet"):
        with transaction.atomic():
            attempt_failed(
                attempt, attempt.wallet, code="abandoned", message="No payment was made."
            )
    below = Wallet.objects.filter(
        auto_topup_enabled=True, ledger_account__balance__lt=F("auto_topup_threshold")
    ).exclude(auto_topups__status=A.IN_FLIGHT)
    count = 0
    for wallet_id in below.values_list("pk", flat=True).iterator():
        start_auto_topup.enqueue(wallet_id, AutoTopUpAttempt.Trigger.MONITOR)
        count += 1
    return count
