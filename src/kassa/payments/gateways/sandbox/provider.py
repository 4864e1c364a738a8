"""The sandbox provider: a simulated card processor with published test cards.

| card                | outcome                                                  |
|---------------------|----------------------------------------------------------|
| 4242 4242 4242 4242 | succeeds                                                 |
| 4000 0000 0000 0002 | declined (`card_declined`)                               |
| 4000 0000 0000 9995 | declined (`insufficient_funds`)                          |
| 4000 0027 6000 3184 | asks for a confirmation step (3-D Secure style) every time |

Any future expiry date and any three-digit CVC are accepted. Outcomes reach Kassa as signed
events through the same inbound path as a real provider's (`deliver_event` task)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.tasks import task
from django.utils import timezone
from django.utils.translation import gettext_noop

from kassa.payments.gateways.base import CheckoutRequest, InboundRequest
from kassa.payments.gateways.sandbox import repository
from kassa.payments.gateways.sandbox.models import (
    SandboxCard,
    SandboxCharge,
    SandboxCheckout,
    SandboxRefund,
)

SIGNATURE_HEADER = "Kassa-Sandbox-Signature"
TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class CardBehaviour:
    outcome: str
    failure_code: str = ""
    message: str = ""


TEST_CARDS = {
    "4242424242424242": CardBehaviour("succeeded"),
    "4000000000000002": CardBehaviour("failed", "card_declined", "The card was declined."),
    "4000000000009995": CardBehaviour(
        "failed", "insufficient_funds", "The card has insufficient funds."
    ),
    "4000002760003184": CardBehaviour(
        "requires_action", "authentication_required", "The card requires authentication."
    ),
}


class CardRejected(Exception):
    """The card form cannot be accepted (not a test card, bad expiry or CVC)."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, body: bytes, header: str | None, now: float | None = None) -> None:
    """Raise ValueError unless the header signs the body with the secret, recently."""
    if not header:
        raise ValueError("missing signature header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise ValueError("malformed signature header") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > TOLERANCE_SECONDS:
        raise ValueError("timestamp outside the tolerance")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    if not any(hmac.compare_digest(expected.hexdigest(), v) for v in parts.get("v1", [])):
        raise ValueError("no matching signature")


def _new(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(18)}"


def open_checkout(account_id: str, request: CheckoutRequest) -> SandboxCheckout:
    customer = ""
    if request.save_payment_method:
        customer = request.gateway_customer_reference or _new("sbxcus")
    return SandboxCheckout.objects.create(
        token=secrets.token_urlsafe(24),
        gateway_account_id=account_id,
        payment_id=request.payment_id,
        amount=request.amount,
        currency=request.currency,
        description=request.description[:500],
        success_url=request.success_url,
        cancel_url=request.cancel_url,
        save_method=request.save_payment_method,
        customer_reference=customer,
        locale=request.locale,
        expires_at=request.expires_at,
    )


def checkout_url(checkout: SandboxCheckout) -> str:
    return f"{settings.KASSA_BASE_URL}/sandbox/checkout/{checkout.token}"


def _card_payload(card: SandboxCard | None) -> dict[str, Any] | None:
    if card is None:
        return None
    return {
        "token": card.token,
        "brand": card.brand,
        "last4": card.number[-4:],
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "customer": card.customer_reference,
    }


def _charge_event(charge: SandboxCharge, kind: str, message: str = "") -> dict[str, Any]:
    return {
        "id": _new("evt_sbx"),
        "type": f"charge.{kind}",
        "created": int(time.time()),
        "data": {
            "charge": charge.id,
            "payment_id": charge.payment_id,
            "amount": charge.amount,
            "currency": charge.currency,
            "failure_code": charge.failure_code or None,
            "failure_message": message or None,
            "card": _card_payload(charge.card),
        },
    }


def validate_card(number: str, exp_month: str, exp_year: str, cvc: str) -> CardBehaviour:
    digits = "".join(ch for ch in number if ch.isdigit())
    behaviour = TEST_CARDS.get(digits)
    if behaviour is None:
        raise CardRejected(
            gettext_noop("Use one of the sandbox test cards, e.g. 4242 4242 4242 4242.")
        )
    try:
        month, year = int(exp_month), int(exp_year)
    except ValueError:
        raise CardRejected(gettext_noop("Enter the expiry as MM and YY.")) from None
    year = year + 2000 if year < 100 else year
    today = timezone.now()
    if not 1 <= month <= 12 or (year, month) < (today.year, today.month):
        raise CardRejected(gettext_noop("The expiry date must be in the future."))
    if not (cvc.isdigit() and len(cvc) in (3, 4)):
        raise CardRejected(gettext_noop("The CVC is three or four digits."))
    return behaviour


def pay_checkout(
    checkout: SandboxCheckout, number: str, exp_month: str, exp_year: str, cvc: str
) -> str:
    """Charge the card on the sandbox card page; return where to send the customer next."""
    behaviour = validate_card(number, exp_month, exp_year, cvc)
    digits = "".join(ch for ch in number if ch.isdigit())
    with transaction.atomic():
        locked = SandboxCheckout.objects.select_for_update().get(pk=checkout.pk)
        if locked.status != "open" or locked.expires_at <= timezone.now():
            raise CardRejected(gettext_noop("This checkout is no longer open."))
        card = None
        if locked.save_method:
            year = int(exp_year)
            card = SandboxCard.objects.create(
                token=_new("pm_sbx"),
                gateway_account_id=locked.gateway_account_id,
                customer_reference=locked.customer_reference,
                number=digits,
                exp_month=int(exp_month),
                exp_year=year + 2000 if year < 100 else year,
            )
        charge = SandboxCharge.objects.create(
            id=_new("ch_sbx"),
            gateway_account_id=locked.gateway_account_id,
            payment_id=locked.payment_id,
            amount=locked.amount,
            currency=locked.currency,
            status=behaviour.outcome,
            failure_code=behaviour.failure_code,
            card=card,
            checkout=locked,
        )
        if behaviour.outcome != "requires_action":
            locked.status = "complete"
            locked.save(update_fields=["status"])
        send_event(
            locked.gateway_account_id, _charge_event(charge, behaviour.outcome, behaviour.message)
        )
    if behaviour.outcome == "requires_action":
        return f"{settings.KASSA_BASE_URL}/sandbox/authenticate/{charge.id}"
    return locked.success_url


def authenticate(charge_id: str, approve: bool) -> str:
    with transaction.atomic():
        charge = (
            SandboxCharge.objects.select_for_update(of=("self",))
            .select_related("checkout")
            .get(pk=charge_id)
        )
        if charge.status == "requires_action":
            charge.status = "succeeded" if approve else "failed"
            charge.failure_code = "" if approve else "authentication_failed"
            charge.save(update_fields=["status", "failure_code"])
            if charge.checkout is not None:
                SandboxCheckout.objects.filter(pk=charge.checkout.pk).update(status="complete")
            message = "" if approve else "The customer did not complete authentication."
            send_event(charge.gateway_account_id, _charge_event(charge, charge.status, message))
    if charge.checkout is not None:
        return charge.checkout.success_url
    return f"{settings.KASSA_BASE_URL}/"


def charge_card(
    account_id: str,
    payment_id: str,
    card_token: str,
    amount: int,
    currency: str,
    idempotency_key: str,
) -> SandboxCharge:
    """An off-session charge of a saved card (idempotent on the key)."""
    existing = SandboxCharge.objects.filter(
        gateway_account_id=account_id, idempotency_key=idempotency_key
    ).first()
    if existing is not None:
        return existing
    card = SandboxCard.objects.filter(gateway_account_id=account_id, token=card_token).first()
    if card is None:
        raise LookupError("no such saved card")
    behaviour = TEST_CARDS[card.number]
    with transaction.atomic():
        charge = SandboxCharge.objects.create(
            id=_new("ch_sbx"),
            gateway_account_id=account_id,
            payment_id=payment_id,
            idempotency_key=idempotency_key,
            amount=amount,
            currency=currency,
            status=behaviour.outcome,
            failure_code=behaviour.failure_code,
            card=card,
        )
        send_event(account_id, _charge_event(charge, behaviour.outcome, behaviour.message))
    return charge


def refund(account_id: str, payment_id: str, amount: int, idempotency_key: str) -> SandboxRefund:
    existing = SandboxRefund.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        charge = (
            SandboxCharge.objects.select_for_update()
            .filter(gateway_account_id=account_id, payment_id=payment_id, status="succeeded")
            .order_by("-created_at")
            .first()
        )
        if charge is None:
            raise LookupError("no succeeded charge for this payment")
        if charge.amount_refunded + amount > charge.amount:
            raise ValueError("refund exceeds the charge")
        try:
            with transaction.atomic():
                created = SandboxRefund.objects.create(
                    id=_new("rf_sbx"), charge=charge, idempotency_key=idempotency_key, amount=amount
                )
        except IntegrityError:
            return SandboxRefund.objects.get(idempotency_key=idempotency_key)
        charge.amount_refunded += amount
        charge.save(update_fields=["amount_refunded"])
    return created


def simulate(account_id: str, payment_id: str, amount: int, currency: str, outcome: str) -> str:
    """Test helper: the provider decides `outcome` for a payment; returns the event body."""
    card = {"succeeded": "4242424242424242", "failed": "4000000000000002"}.get(
        outcome, "4000002760003184"
    )
    behaviour = TEST_CARDS[card]
    charge = SandboxCharge(
        id=_new("ch_sbx"),
        gateway_account_id=account_id,
        payment_id=payment_id,
        amount=amount,
        currency=currency,
        status=behaviour.outcome,
        failure_code=behaviour.failure_code,
    )
    repository.insert_charge(charge)
    return json.dumps(_charge_event(charge, behaviour.outcome, behaviour.message))


def latest_charge(account_id: str, payment_id: str) -> SandboxCharge | None:
    return (
        SandboxCharge.objects.filter(gateway_account_id=account_id, payment_id=payment_id)
        .order_by("-created_at")
        .first()
    )


def send_event(account_id: str, event: dict[str, Any]) -> None:
    """Queue a signed event for Kassa, inside the transaction that produced it."""
    deliver_event.enqueue(account_id, json.dumps(event, separators=(",", ":")))


@task(queue_name="gateways")
def deliver_event(account_id: str, body: str) -> None:
    from kassa.payments.inbound import receive
    from kassa.payments.models import GatewayAccount

    account = GatewayAccount.objects.get(pk=account_id)
    receive(account, signed_request(account_id, account.credentials["signing_secret"], body))


def signed_request(account_id: str, secret: str, body: str) -> InboundRequest:
    raw = body.encode()
    return InboundRequest(
        method="POST",
        path=f"/hooks/sandbox/{account_id}",
        headers={SIGNATURE_HEADER.lower(): sign(secret, raw), "content-type": "application/json"},
        body=raw,
    )
