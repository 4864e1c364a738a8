"""The payment lifecycle: creation, checkout, off-session charges, and every status change.

Every transition goes through `transition`, which locks the payment, checks the state
machine, posts to the ledger on success and writes the event, in one transaction. Calls to a
provider happen outside any transaction: the intent is committed first, the provider is called
with a key derived from our id, and the answer is recorded by a new transition.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from kassa.core import audit
from kassa.core.actors import Actor
from kassa.core.errors import InvalidRequest, KassaError, ResourceMissing, StateConflict
from kassa.core.models import Organization
from kassa.core.money import normalize_currency, validate_amount
from kassa.core.validation import validate_metadata
from kassa.customers.models import Customer
from kassa.events.services import emit
from kassa.payments import ledger as payment_ledger
from kassa.payments import repository
from kassa.payments.accounts import account_by_id, enabled_accounts
from kassa.payments.gateways.base import (
    ChargeRequest,
    CheckoutRequest,
    CheckoutSession,
    GatewayError,
    Outcome,
    PaymentRef,
    SavedMethod,
)
from kassa.payments.gateways.registry import gateway_for
from kassa.payments.links import checkout_url, return_url
from kassa.payments.models import GatewayAccount, Payment, PaymentMethod, PaymentStatus
from kassa.payments.purposes import purpose_of
from kassa.payments.representations import payment_dict, payment_method_dict
from kassa.payments.states import TERMINAL, Source, check_transition

S = PaymentStatus


class NoGatewayAccount(InvalidRequest):
    code = "no_gateway_account"


class AmountMismatch(KassaError):
    status = 409
    code = "amount_mismatch"
    default_message = "The provider reported a different amount or currency than the payment."


@dataclass(frozen=True)
class Change:
    """What a transition should record besides the new status."""

    gateway_reference: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    action_url: str | None = None
    saved_method: SavedMethod | None = None
    amount: int | None = None  # as reported by the provider, checked on success
    currency: str | None = None
    reason: str = ""


# -- gateway accounts for a payment --------------------------------------------------------


def eligible_accounts(organization_id: str, currency: str, livemode: bool) -> list[GatewayAccount]:
    """Enabled accounts of the right mode that accept the currency, the default first."""
    return [
        a
        for a in enabled_accounts(organization_id)
        if a.test_mode != livemode and (not a.currencies or currency in a.currencies)
    ]


def _account_for_payment(
    organization: Organization, account_id: str | None, currency: str, livemode: bool
) -> GatewayAccount | None:
    if account_id is None:
        eligible = eligible_accounts(organization.id, currency, livemode)
        if not eligible:
            mode = "live" if livemode else "test"
            raise NoGatewayAccount(
                f"No enabled {mode}-mode gateway account accepts {currency}; "
                "add one with POST /v1/gateway_accounts.",
                param="gateway_account",
            )
        return eligible[0]
    account = account_by_id(account_id)
    if account is None or account.organization_id != organization.id:
        raise ResourceMissing(f"No such gateway account: {account_id!r}.", param="gateway_account")
    _check_account(account, currency, livemode)
    return account


def _check_account(account: GatewayAccount, currency: str, livemode: bool) -> None:
    if not account.enabled:
        raise InvalidRequest("This gateway account is disabled.", param="gateway_account")
    if account.test_mode == livemode:
        raise InvalidRequest(
            "A live-mode key needs a live gateway account and a test-mode key a test one.",
            param="gateway_account",
        )
    if account.currencies and currency not in account.currencies:
        raise InvalidRequest(
            f"This gateway account does not accept {currency}.", param="gateway_account"
        )


def _validate_url(value: str, param: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRequest(f"{param} must be an http(s) URL.", param=param)
    return value


# -- creation -------------------------------------------------------------------------------


def create_payment(
    organization: Organization,
    *,
    amount: Any,
    currency: Any,
    livemode: bool,
    customer_id: str | None = None,
    description: str = "",
    gateway_account_id: str | None = None,
    return_url_: str = "",
    metadata: Any = None,
    purpose: str = "generic",
    purpose_id: str = "",
    save_payment_method: bool = False,
    payment_method_id: str | None = None,
    expires_in: timedelta | None = None,
) -> Payment:
    """Create a pending payment; with `payment_method_id`, charge it off-session at once."""
    currency = normalize_currency(currency)
    amount = validate_amount(amount, currency)
    metadata = validate_metadata(metadata)
    if return_url_:
        _validate_url(return_url_, "return_url")
    customer = None
    if customer_id is not None:
        customer = Customer.objects.filter(organization=organization, pk=customer_id).first()
        if customer is None:
            raise ResourceMissing(f"No such customer: {customer_id!r}.", param="customer")
    method = None
    if payment_method_id is not None:
        method = PaymentMethod.objects.filter(
            organization=organization, pk=payment_method_id, status=PaymentMethod.Status.ACTIVE
        ).first()
        if method is None:
            raise ResourceMissing(
                f"No such payment method: {payment_method_id!r}.", param="payment_method"
            )
        if customer is None or method.customer_id != customer.id:
            raise InvalidRequest(
                "A saved payment method can only be charged for its own customer.",
                param="payment_method",
            )
        account: GatewayAccount | None = method.gateway_account
        assert account is not None
        _check_account(account, currency, livemode)
        if not gateway_for(account).capabilities.off_session:
            raise InvalidRequest(
                "This provider cannot charge saved payment methods.", param="payment_method"
            )
    else:
        account = _account_for_payment(organization, gateway_account_id, currency, livemode)
    if save_payment_method and customer is None:
        raise InvalidRequest(
            "save_payment_method needs a customer to save it for.", param="save_payment_method"
        )
    payment = Payment(
        organization=organization,
        livemode=livemode,
        amount=amount,
        currency=currency,
        customer=customer,
        description=str(description or "")[:500],
        purpose=purpose,
        purpose_id=purpose_id,
        gateway_account=account,
        return_url=return_url_,
        metadata=metadata,
        save_payment_method=save_payment_method,
        payment_method=method,
        off_session=method is not None,
        expires_at=timezone.now()
        + (expires_in or timedelta(minutes=settings.KASSA_CHECKOUT_TTL_MINUTES)),
    )
    with transaction.atomic():
        purpose_of(purpose).validate_new(payment)
        repository.insert_payment(payment)
        emit(organization.id, "payment.created", payment_dict(payment))
    if method is not None:
        return charge_off_session(payment)
    return payment


# -- checkout --------------------------------------------------------------------------------


def start_checkout(payment_id: str, gateway_account_id: str, locale: str) -> CheckoutSession:
    """Send the customer to a provider: commit the choice, then ask the provider."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in (S.PENDING, S.REQUIRES_ACTION):
            raise StateConflict("This payment can no longer be paid.")
        if payment.expires_at and payment.expires_at <= timezone.now():
            raise StateConflict("This payment's checkout has expired.")
        account = GatewayAccount.objects.filter(
            organization_id=payment.organization_id, pk=gateway_account_id
        ).first()
        if account is None:
            raise ResourceMissing("No such gateway account.", param="gateway_account")
        _check_account(account, payment.currency, payment.livemode)
        if payment.gateway_account_id != account.id:
            payment.gateway_account = account
            payment.gateway_reference = ""
            payment.updated_at = timezone.now()
            payment.save(update_fields=["gateway_account", "gateway_reference", "updated_at"])
        customer = payment.customer
        gateway_customer = None
        if customer is not None and payment.save_payment_method:
            gateway_customer = (
                PaymentMethod.objects.filter(customer=customer, gateway_account=account)
                .exclude(gateway_customer_reference="")
                .values_list("gateway_customer_reference", flat=True)
                .first()
            )
    assert payment.expires_at is not None
    session = gateway_for(account).start_checkout(
        CheckoutRequest(
            payment_id=payment.id,
            amount=payment.amount,
            currency=payment.currency,
            description=payment.description or payment.id,
            locale=locale,
            success_url=return_url(payment.id),
            cancel_url=checkout_url(payment.id),
            expires_at=payment.expires_at,
            customer_id=customer.id if customer else None,
            customer_email=customer.email or None if customer else None,
            customer_name=customer.name or None if customer else None,
            customer_phone=customer.phone or None if customer else None,
            gateway_customer_reference=gateway_customer,
            save_payment_method=payment.save_payment_method,
            previous_reference=payment.gateway_reference or None,
        )
    )
    if session.gateway_reference:
        with transaction.atomic():
            Payment.objects.filter(
                pk=payment.id, gateway_account=account, status__in=[S.PENDING, S.REQUIRES_ACTION]
            ).update(gateway_reference=session.gateway_reference, updated_at=timezone.now())
    return session


def charge_off_session(payment: Payment) -> Payment:
    """Charge the payment's saved method; the intent is committed before the provider call."""
    method = payment.payment_method
    assert method is not None
    assert payment.gateway_account is not None
    gateway = gateway_for(payment.gateway_account)
    try:
        result = gateway.charge_saved_method(
            ChargeRequest(
                payment_id=payment.id,
                amount=payment.amount,
                currency=payment.currency,
                description=payment.description or payment.id,
                payment_method_reference=method.gateway_reference,
                gateway_customer_reference=method.gateway_customer_reference or None,
                idempotency_key=f"{payment.id}:charge",
                return_url=return_url(payment.id),
            )
        )
    except GatewayError:
        # The outcome is unknown: the payment stays pending and reconciliation will ask.
        return Payment.objects.get(pk=payment.id)
    change = Change(
        gateway_reference=result.gateway_reference,
        failure_code=result.failure_code,
        failure_message=result.failure_message,
        # The customer finishes authentication on our hosted checkout, on-session.
        action_url=checkout_url(payment.id) if result.outcome == Outcome.REQUIRES_ACTION else None,
    )
    return apply_outcome(payment.id, result.outcome, Source.GATEWAY, change=change)


# -- transitions -----------------------------------------------------------------------------


_EVENT_FOR: dict[str, str] = {
    S.SUCCEEDED: "payment.succeeded",
    S.FAILED: "payment.failed",
    S.CANCELED: "payment.canceled",
    S.REQUIRES_ACTION: "payment.requires_action",
    S.PROCESSING: "payment.processing",
    S.EXPIRED: "payment.expired",
}


def apply_outcome(
    payment_id: str,
    outcome: Outcome | str,
    source: Source,
    *,
    change: Change | None = None,
    actor: Actor | None = None,
    organization_id: str | None = None,
) -> Payment:
    """Record a provider's (or a person's) verdict. A pending verdict changes nothing.
    With `organization_id`, a payment of another organization is not found
    (`Payment.DoesNotExist`)."""
    if outcome == Outcome.PENDING:
        return _payment(payment_id, organization_id, lock=False)
    return transition(
        payment_id,
        str(outcome),
        source=source,
        change=change,
        actor=actor,
        organization_id=organization_id,
    )


def _payment(payment_id: str, organization_id: str | None, *, lock: bool) -> Payment:
    found = repository.get_payment(payment_id, organization_id, lock=lock)
    if found is None:
        raise Payment.DoesNotExist(payment_id)
    return found


# What a transition may change on the payment row (written in one UPDATE).
_TRANSITION_FIELDS = (
    "status",
    "updated_at",
    "succeeded_at",
    "failure_code",
    "failure_message",
    "action_url",
    "gateway_reference",
    "gateway_account",
    "payment_method",
)


def transition(
    payment_id: str,
    target: str,
    *,
    source: Source,
    change: Change | None = None,
    actor: Actor | None = None,
    locked: Payment | None = None,
    organization_id: str | None = None,
) -> Payment:
    """`locked`: the payment, already locked (select_for_update) by the caller inside the
    caller's own transaction. It is used as is (no second SELECT, no savepoint): the hot path
    of merchant APIs that answer synchronously (Payme). An error then aborts the caller's
    whole transaction, which such callers roll back anyway."""
    change = change or Change()
    if locked is not None:
        assert locked.pk == payment_id
        assert transaction.get_connection().in_atomic_block
    with transaction.atomic(savepoint=locked is None):
        payment = locked or _payment(payment_id, organization_id, lock=True)
        if payment.status == target:
            _record_details(payment, change)
            return payment
        check_transition(payment.status, target, source)
        reported = (change.amount, change.currency or payment.currency)
        expected = (payment.amount, payment.currency)
        if target == S.SUCCEEDED and change.amount is not None and reported != expected:
            raise AmountMismatch(
                f"{payment.id} is {payment.amount} {payment.currency}; the provider reported "
                f"{change.amount} {change.currency or payment.currency}."
            )
        before = {"status": payment.status}
        now = timezone.now()
        payment.status = target
        payment.updated_at = now
        if target == S.SUCCEEDED:
            payment.succeeded_at = now
            payment.failure_code = payment.failure_message = ""
        elif target == S.FAILED:
            payment.failure_code = (change.failure_code or "payment_failed")[:64]
            payment.failure_message = (change.failure_message or "")[:500]
        if target == S.REQUIRES_ACTION:
            payment.action_url = change.action_url or checkout_url(payment.id)
        _record_details(payment, change, save=False)
        # Deferred: it travels with the ledger posting (or the COMMIT), and anything that
        # reads the payment again in this transaction sends it first.
        repository.save_payment(payment, _TRANSITION_FIELDS)
        purpose = purpose_of(payment.purpose)
        if target == S.SUCCEEDED:
            purpose.lock(payment)
            payment_ledger.post_success(payment)
            purpose.on_succeeded(payment)
        elif target in TERMINAL:
            purpose.on_closed(payment)
        emit(payment.organization_id, _EVENT_FOR[target], payment_dict(payment))
        if actor is not None and source == Source.STAFF:
            audit.record(
                actor=actor,
                action=f"payment.marked_{target}",
                organization_id=payment.organization_id,
                obj=payment,
                reason=change.reason,
                before=before,
                after={"status": target},
            )
    return payment


def _record_details(payment: Payment, change: Change, *, save: bool = True) -> None:
    fields: list[str] = []
    if change.gateway_reference and change.gateway_reference != payment.gateway_reference:
        payment.gateway_reference = change.gateway_reference[:255]
        fields.append("gateway_reference")
    if change.saved_method is not None and payment.customer_id and payment.gateway_account_id:
        method = _save_method(payment, change.saved_method)
        if payment.payment_method_id != method.id:
            payment.payment_method = method
            fields.append("payment_method")
    if payment.status not in TERMINAL and change.failure_message:
        # A declined attempt inside a still-open checkout: remembered, not final.
        payment.failure_code = (change.failure_code or "")[:64]
        payment.failure_message = change.failure_message[:500]
        fields += ["failure_code", "failure_message"]
    if save and fields:
        payment.updated_at = timezone.now()
        payment.save(update_fields=[*fields, "updated_at"])


def _save_method(payment: Payment, saved: SavedMethod) -> PaymentMethod:
    method, created = PaymentMethod.objects.get_or_create(
        gateway_account_id=payment.gateway_account_id,
        gateway_reference=saved.gateway_reference,
        defaults={
            "organization_id": payment.organization_id,
            "customer_id": payment.customer_id,
            "gateway_customer_reference": saved.gateway_customer_reference or "",
            "kind": saved.kind,
            "brand": saved.brand,
            "last4": saved.last4,
            "exp_month": saved.exp_month,
            "exp_year": saved.exp_year,
        },
    )
    if created:
        emit(payment.organization_id, "payment_method.saved", payment_method_dict(method))
    return method


# -- merchant and staff actions --------------------------------------------------------------


def cancel_payment(payment: Payment, *, actor: Actor | None = None, reason: str = "") -> Payment:
    if payment.status not in (S.PENDING, S.REQUIRES_ACTION):
        raise StateConflict(f"A {payment.status} payment cannot be canceled.")
    source = Source.STAFF if actor is not None and actor.type == "staff" else Source.API
    canceled = transition(
        payment.id, S.CANCELED, source=source, change=Change(reason=reason), actor=actor
    )
    if canceled.gateway_account is not None:
        # Best effort: a late success from the provider is still accepted.
        with contextlib.suppress(GatewayError, NotImplementedError):
            gateway_for(canceled.gateway_account).cancel(payment_ref(canceled))
    return canceled


def mark_succeeded(payment: Payment, actor: Actor, reason: str) -> Payment:
    """A person records that the money arrived (checked in the provider's cabinet, say)."""
    _require_reason(reason)
    return transition(
        payment.id, S.SUCCEEDED, source=Source.STAFF, change=Change(reason=reason), actor=actor
    )


def mark_failed(payment: Payment, actor: Actor, reason: str) -> Payment:
    _require_reason(reason)
    change = Change(failure_code="marked_failed", failure_message=reason, reason=reason)
    return transition(payment.id, S.FAILED, source=Source.STAFF, change=change, actor=actor)


def _require_reason(reason: str) -> None:
    if len((reason or "").strip()) < 3:
        raise InvalidRequest("A reason is required.", param="reason")


def payment_ref(payment: Payment) -> PaymentRef:
    return PaymentRef(
        payment_id=payment.id,
        gateway_reference=payment.gateway_reference or None,
        amount=payment.amount,
        currency=payment.currency,
        off_session=payment.off_session,
    )


def remove_payment_method(method: PaymentMethod, actor: Actor) -> PaymentMethod:
    with transaction.atomic():
        locked = PaymentMethod.objects.select_for_update().get(pk=method.pk)
        if locked.status == PaymentMethod.Status.REMOVED:
            return locked
        locked.status = PaymentMethod.Status.REMOVED
        locked.save(update_fields=["status"])
        emit(locked.organization_id, "payment_method.removed", payment_method_dict(locked))
        audit.record(
            actor=actor,
            action="payment_method.removed",
            organization_id=locked.organization_id,
            obj=locked,
        )
    return locked
