"""Payment links: making, invalidating and regenerating them, and paying through one.

Locks are taken in one order everywhere: the booking, then its links, then (through the
payments app) the ledger accounts. A payment's success locks the payment first and then the
booking, so code here never locks a payment while holding a booking; an open payment that
must go is canceled by a task after the commit.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction

from kassa.bookings import clock
from kassa.bookings.errors import (
    AmountExceedsBalanceDue,
    BookingAlreadyPaid,
    BookingCancelled,
    PaymentInProgress,
    PaymentLinkExpired,
    PaymentLinkInvalidated,
    PaymentLinkUsed,
    ServiceDatePassed,
)
from kassa.bookings.models import Booking, PaymentLink
from kassa.bookings.representations import link_dict
from kassa.bookings.tokens import derive_token, hash_token, is_well_formed, new_salt
from kassa.core import audit
from kassa.core.actors import Actor
from kassa.core.errors import InvalidRequest
from kassa.core.models import ActorType
from kassa.core.money import validate_amount
from kassa.events.services import emit
from kassa.payments import services as payments
from kassa.payments.models import Payment, PaymentStatus

OPEN_PAYMENT = (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION, PaymentStatus.PROCESSING)
_RETURN_SALT = "kassa.bookings.pay_return"


def deadline(booking: Booking) -> dt.datetime:
    """Links never outlive the start of the service date in the organization's time zone:
    the balance is due before the service."""
    return clock.start_of_day(booking.service_date, booking.organization.timezone)


def _lock_booking(booking_id: str) -> Booking:
    return (
        Booking.objects.select_for_update(of=("self",))
        .select_related("organization")
        .get(pk=booking_id)
    )


def _check_payable(booking: Booking) -> int:
    """The balance due, or the reason nothing can be paid."""
    if booking.cancelled_at is not None:
        raise BookingCancelled()
    due = booking.balance_due
    if due <= 0:
        raise BookingAlreadyPaid()
    return due


def _audit(actor: Actor, action: str, link: PaymentLink, reason: str) -> None:
    if actor.type == ActorType.STAFF:
        audit.record(
            actor=actor,
            action=action,
            organization_id=link.organization_id,
            obj=link,
            reason=reason,
            after={"status": link.status, "booking": link.booking_id},
        )


def create_link(
    booking: Booking,
    *,
    actor: Actor,
    amount: int | None = None,
    expires_at: dt.datetime | None = None,
    reason: str = "",
) -> tuple[PaymentLink, str]:
    """Make a new link (any active one is invalidated) and return it with its token."""
    with transaction.atomic():
        locked = _lock_booking(booking.pk)
        link, token = create_locked(
            locked, amount=amount, expires_at=expires_at, replaced_reason="replaced by a new link"
        )
        _audit(actor, "payment_link.created", link, reason)
    return link, token


def create_locked(
    booking: Booking,
    *,
    amount: int | None = None,
    expires_at: dt.datetime | None = None,
    replaced_reason: str = "replaced by a new link",
) -> tuple[PaymentLink, str]:
    """`create_link` for a caller that holds the booking's lock in its transaction."""
    due = _check_payable(booking)
    if amount is not None:
        amount = validate_amount(amount, booking.currency)
        if amount > due:
            raise AmountExceedsBalanceDue(
                f"The installment ({amount}) is more than the balance due ({due}).",
                param="amount",
            )
    now = clock.now()
    latest = deadline(booking)
    if latest <= now:
        raise ServiceDatePassed("The service date has begun; a link can no longer be made.")
    if expires_at is None:
        expires_at = latest
    else:
        if expires_at.tzinfo is None:
            raise InvalidRequest(
                "expires_at needs a time zone (for example 2026-12-01T09:00:00Z).",
                param="expires_at",
            )
        if expires_at > latest:
            raise InvalidRequest(
                "expires_at must not be after the service date begins "
                f"({latest.isoformat().replace('+00:00', 'Z')}).",
                param="expires_at",
            )
        if expires_at <= now:
            raise InvalidRequest("expires_at must be in the future.", param="expires_at")
    for old in PaymentLink.objects.select_for_update().filter(
        booking=booking, status=PaymentLink.Status.ACTIVE
    ):
        invalidate_locked(old, replaced_reason)
    link = PaymentLink(
        organization_id=booking.organization_id,
        booking=booking,
        amount=amount,
        currency=booking.currency,
        expires_at=expires_at,
        token_salt=new_salt(),
        created_at=now,
    )
    token = derive_token(link.id, link.token_salt)
    link.token_hash = hash_token(token)
    link.save(force_insert=True)
    emit(booking.organization_id, "payment_link.created", link_dict(link, booking))
    return link, token


def invalidate_locked(link: PaymentLink, reason: str) -> None:
    """Invalidate an active link whose row the caller has locked; an open payment made
    through it is canceled (with the provider) by a task after the commit."""
    from kassa.bookings.tasks import cancel_link_payment

    link.status = PaymentLink.Status.INVALIDATED
    link.invalidated_at = clock.now()
    link.invalidation_reason = reason[:500]
    link.save(update_fields=["status", "invalidated_at", "invalidation_reason"])
    if link.payment_id and link.payment and link.payment.status in OPEN_PAYMENT:
        cancel_link_payment.enqueue(link.payment_id)


def invalidate_link(link: PaymentLink, *, actor: Actor, reason: str = "") -> PaymentLink:
    with transaction.atomic():
        _lock_booking(link.booking_id)
        locked = PaymentLink.objects.select_for_update().get(pk=link.pk)
        if locked.status != PaymentLink.Status.ACTIVE:
            return locked  # used or already invalidated: nothing to do
        invalidate_locked(locked, reason or "invalidated")
        _audit(actor, "payment_link.invalidated", locked, reason)
    return locked


def regenerate_link(
    link: PaymentLink, *, actor: Actor, reason: str = ""
) -> tuple[PaymentLink, str]:
    """A new link for the same booking and installment; the old one stops working."""
    with transaction.atomic():
        booking = _lock_booking(link.booking_id)
        new, token = create_locked(
            booking, amount=link.amount, replaced_reason=f"regenerated: {reason}".strip(": ")
        )
        _audit(actor, "payment_link.regenerated", new, reason)
        if actor.type == ActorType.STAFF:
            audit.record(
                actor=actor,
                action="payment_link.invalidated",
                organization_id=link.organization_id,
                obj=link,
                reason=reason,
                after={"status": "invalidated", "replaced_by": new.id},
            )
    return new, token


def reusable_token(link: PaymentLink) -> str | None:
    """The token of an active, unexpired link, if the server can still re-make it."""
    if link.state(clock.now()) != "active":
        return None
    token = derive_token(link.id, link.token_salt)
    return token if hash_token(token) == link.token_hash else None


def link_for_reminder(booking: Booking) -> tuple[PaymentLink, str]:
    """Reuse the booking's active link, else make one (the booking is locked by the caller)."""
    current = PaymentLink.objects.filter(booking=booking, status=PaymentLink.Status.ACTIVE).first()
    if current is not None:
        token = reusable_token(current)
        if token is not None:
            return current, token
    return create_locked(booking, replaced_reason="replaced for a reminder")


def find(token: str) -> PaymentLink | None:
    if not is_well_formed(token):
        return None
    return (
        PaymentLink.objects.select_related("booking__organization", "booking__customer", "payment")
        .filter(token_hash=hash_token(token))
        .first()
    )


def check_usable(link: PaymentLink) -> None:
    state = link.state(clock.now())
    if state == "expired":
        raise PaymentLinkExpired()
    if state == "invalidated":
        raise PaymentLinkInvalidated()
    if state == "used":
        raise PaymentLinkUsed()


def amount_now(link: PaymentLink, booking: Booking) -> int:
    """What a payment through the link is for: re-read from the ledger at pay time."""
    due = booking.balance_due
    return due if link.amount is None else min(link.amount, due)


def return_token(link_id: str) -> str:
    return signing.dumps(link_id, salt=_RETURN_SALT, compress=False)


def link_id_from_return_token(value: str) -> str | None:
    try:
        loaded = signing.loads(value, salt=_RETURN_SALT)
    except signing.BadSignature:
        return None
    return loaded if isinstance(loaded, str) else None


def start_payment(link_id: str, gateway_account_id: str) -> Payment:
    """The customer chose how to pay: the payment the link's checkout continues with.

    Under the booking's lock, so concurrent attempts through one link get the same open
    payment and can never pay twice: the link's open payment is reused while it fits the
    balance due; otherwise a new one is made for the amount due now."""
    from kassa.bookings.tasks import cancel_link_payment

    link = PaymentLink.objects.get(pk=link_id)
    with transaction.atomic():
        booking = _lock_booking(link.booking_id)
        link = (
            PaymentLink.objects.select_for_update(of=("self",))
            .select_related("payment")
            .get(pk=link_id)
        )
        check_usable(link)
        _check_payable(booking)
        amount = amount_now(link, booking)
        current = link.payment
        if current is not None and current.status in OPEN_PAYMENT:
            if current.status == PaymentStatus.PROCESSING:
                raise PaymentInProgress()
            if current.amount == amount:
                return current
            # The balance moved since (another payment arrived): this one no longer fits.
            cancel_link_payment.enqueue(current.id)
        now = clock.now()
        ttl = timedelta(minutes=settings.KASSA_CHECKOUT_TTL_MINUTES)
        payment = payments.create_payment(
            booking.organization,
            amount=amount,
            currency=booking.currency,
            livemode=booking.livemode,
            customer_id=booking.customer_id,
            description=(booking.description or f"Booking {booking.reference}")[:500],
            gateway_account_id=gateway_account_id or None,
            return_url_=f"{settings.KASSA_BASE_URL}/pay/return/{return_token(link.id)}",
            metadata={"booking": booking.id, "payment_link": link.id},
            purpose="booking",
            purpose_id=booking.id,
            expires_in=min(ttl, link.expires_at - now),
        )
        link.payment = payment
        link.save(update_fields=["payment"])
    return payment
