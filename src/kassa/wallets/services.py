"""Wallets and the money that moves through them: creation, usage charges (one or a batch),
reversals and staff adjustments. Top-ups are in `topups.py`, auto top-up in `auto_topup.py`.

Every balance change is a ledger posting on the wallet's account followed, in the same
transaction, by `after_change`: the `balance_changed` signal (sent on commit), low-balance
alerts for each threshold crossed downwards, and the auto top-up task when the auto top-up
threshold was crossed. Charges to one wallet serialize on its ledger account's row lock, so
"crossed" is decided from the exact balance before and after each change: every crossing is
seen by exactly one change, which is why an alert is sent once per crossing and re-arms by
itself once the balance is above the threshold again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from kassa.core import audit
from kassa.core.actors import Actor
from kassa.core.errors import InvalidRequest, KassaError, ResourceMissing
from kassa.core.ids import new_id
from kassa.core.models import Organization
from kassa.core.money import MAX_AMOUNT, normalize_currency, validate_amount
from kassa.core.validation import validate_metadata
from kassa.customers.models import Customer
from kassa.events.services import emit
from kassa.ledger import services as ledger
from kassa.ledger.models import LedgerAccount, LedgerTransaction
from kassa.wallets import alerts, repository
from kassa.wallets.combining import PendingCharge, post_charge
from kassa.wallets.models import Adjustment, Wallet
from kassa.wallets.representations import charge_dict, wallet_dict
from kassa.wallets.rules import settings_for
from kassa.wallets.signals import balance_state, send_balance_changed_on_commit

WALLET_ACCOUNT = "wallet"
MAX_BATCH = 1000
MAX_THRESHOLDS = 10


class WalletExists(KassaError):
    status = 409
    code = "wallet_exists"
    default_message = "This customer already has a wallet in this currency."


class InsufficientFunds(ledger.InsufficientFunds):
    default_message = "The wallet's balance is too low for this charge."


class ChargeMissing(ResourceMissing):
    default_message = "No such wallet charge."


# -- accounts --------------------------------------------------------------------------------

_HOUSE_ACCOUNT_NAMES = {
    "wallet_usage": "Wallet usage",
    "wallet_bonus": "Wallet bonuses granted",
    "wallet_adjustment": "Wallet adjustments",
}


def house_account(organization_id: str, kind: str, currency: str) -> int:
    """The organization's side of wallet postings: usage revenue, bonuses, adjustments."""
    return ledger.account_id(
        organization_id,
        kind=kind,
        currency=currency,
        name=_HOUSE_ACCOUNT_NAMES.get(kind, kind),
        derived=True,
    )


# -- wallets ---------------------------------------------------------------------------------


def validate_thresholds(value: Any, param: str = "low_balance_thresholds") -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_THRESHOLDS:
        raise InvalidRequest(f"{param} is a list of at most {MAX_THRESHOLDS} amounts.", param=param)
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or abs(item) > MAX_AMOUNT:
            raise InvalidRequest(f"{param} holds integer amounts in minor units.", param=param)
    return sorted(set(value), reverse=True)


def create_wallet(
    organization: Organization,
    *,
    customer_id: str,
    currency: Any,
    low_balance_thresholds: Any = None,
    metadata: Any = None,
) -> Wallet:
    currency = normalize_currency(currency)
    thresholds = validate_thresholds(low_balance_thresholds)
    metadata = validate_metadata(metadata)
    customer = Customer.objects.filter(organization=organization, pk=customer_id).first()
    if customer is None:
        raise ResourceMissing(f"No such customer: {customer_id!r}.", param="customer")
    rules = settings_for(organization.id, currency)
    wallet = Wallet(
        organization=organization,
        customer=customer,
        currency=currency,
        low_balance_thresholds=thresholds,
        metadata=metadata,
    )
    try:
        with transaction.atomic():
            if Wallet.objects.filter(
                organization=organization, customer=customer, currency=currency
            ).exists():
                raise WalletExists(param="currency")
            wallet.ledger_account = LedgerAccount.objects.create(
                organization=organization,
                kind=WALLET_ACCOUNT,
                owner_id=wallet.id,
                currency=currency,
                name=f"Wallet {wallet.id}",
                min_balance=-rules.credit_limit,
            )
            wallet.save(force_insert=True)
            emit(organization.id, "wallet.created", wallet_dict(wallet))
    except IntegrityError:
        # Another request created it first (the unique constraint decides).
        raise WalletExists(param="currency") from None
    return wallet


def get_wallet(organization: Organization | str, wallet_id: str, param: str = "id") -> Wallet:
    org_id = organization if isinstance(organization, str) else organization.id
    wallet = (
        Wallet.objects.select_related("ledger_account")
        .filter(organization_id=org_id, pk=wallet_id)
        .first()
    )
    if wallet is None:
        raise ResourceMissing(f"No such wallet: {wallet_id!r}.", param=param)
    return wallet


def wallet_for_charge(organization_id: str, wallet_id: str) -> Wallet:
    """The wallet, without its ledger account row (a charge needs only the account's id)."""
    wallet = repository.wallet_for_charge(wallet_id, organization_id)
    if wallet is None:
        raise ResourceMissing(f"No such wallet: {wallet_id!r}.", param="id")
    return wallet


def update_wallet(wallet: Wallet, changes: dict[str, Any]) -> Wallet:
    with transaction.atomic():
        fields = []
        if "low_balance_thresholds" in changes:
            wallet.low_balance_thresholds = validate_thresholds(changes["low_balance_thresholds"])
            fields.append("low_balance_thresholds")
        if "metadata" in changes:
            wallet.metadata = validate_metadata(changes["metadata"])
            fields.append("metadata")
        if fields:
            wallet.save(update_fields=fields)
            emit(wallet.organization_id, "wallet.updated", wallet_dict(wallet))
    return wallet


# -- after every balance change ----------------------------------------------------------------


def after_change(wallet: Wallet, *, before: int, after: int, sequence: int) -> None:
    """Called inside the transaction that moved the wallet's balance from `before` to `after`."""
    if Wallet.ledger_account.is_cached(wallet):
        wallet.ledger_account.balance = after
    send_balance_changed_on_commit(
        wallet_id=wallet.id,
        organization_id=wallet.organization_id,
        balance=after,
        currency=wallet.currency,
        sequence=sequence,
    )
    if after >= before:
        return
    if wallet.low_balance_thresholds:
        alerts.check_crossings(wallet, before=before, after=after)
    if wallet.auto_topup_enabled and after < wallet.auto_topup_threshold <= before:
        from kassa.wallets.tasks import start_auto_topup

        start_auto_topup.enqueue(wallet.id, "charge")


# -- charges ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChargeRequest:
    wallet_id: str
    amount: int
    description: str = ""
    metadata: dict[str, str] | None = None
    idempotency_key: str | None = None


def _ledger_key(wallet_id: str, idempotency_key: str) -> str:
    return f"{wallet_id}:charge:{idempotency_key}"


def _check_key(key: str | None, param: str) -> None:
    if key is not None and (not key.strip() or len(key) > 200):
        raise InvalidRequest("An idempotency key has 1 to 200 characters.", param=param)


def charge(
    wallet: Wallet,
    *,
    amount: Any,
    description: str = "",
    metadata: Any = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Debit a usage charge, or raise InsufficientFunds (402) having changed nothing.

    With an idempotency key the charge happens once per wallet and key, however often and
    however concurrently it is sent; a repeat answers with the first charge (`replayed`)."""
    amount = validate_amount(amount, wallet.currency)
    metadata = validate_metadata(metadata)
    _check_key(idempotency_key, "Idempotency-Key")
    description = str(description or "")[:500]
    charge_id = new_id("wch")
    spec = ledger.transfer(
        kind="wallet_charge",
        idempotency_key=_ledger_key(wallet.id, idempotency_key or charge_id),
        source=wallet.ledger_account_id,
        destination=house_account(wallet.organization_id, "wallet_usage", wallet.currency),
        amount=amount,
        reference=charge_id,
        description=description,
        metadata=metadata,
    )
    # Charges of one wallet arriving together in this process are posted together.
    return post_charge(
        PendingCharge(
            wallet=wallet,
            spec=spec,
            charge_id=charge_id,
            amount=amount,
            description=description,
            metadata=metadata,
        )
    )


def charged(charge: PendingCharge, posted: ledger.Posted, now: datetime) -> dict[str, Any]:
    """After a charge's posting, in its transaction: its result, the live balance, alerts,
    auto top-up and its event."""
    wallet = charge.wallet
    if posted.replayed:
        return _charge_from_ledger(wallet, posted.transaction_id, replayed=True)
    balance, sequence = posted.balances[wallet.ledger_account_id]
    result = charge_dict(
        charge_id=charge.charge_id,
        wallet=wallet,
        amount=charge.amount,
        description=charge.description,
        metadata=charge.metadata,
        balance_after=balance,
        created=now,
    )
    after_change(wallet, before=balance + charge.amount, after=balance, sequence=sequence)
    emit(wallet.organization_id, "wallet.charged", result)
    return result


def charge_batch(
    organization: Organization, requests: Sequence[ChargeRequest]
) -> list[dict[str, Any]]:
    """Post up to 1,000 charges (any wallets of the organization) in one transaction: all of
    them or, when any wallet would go below its floor, none (402 naming the wallet).

    Each charge carries its own idempotency key; a key already charged is answered with the
    original charge (`replayed`) and not charged again. One `wallet.charges_posted` event per
    wallet summarises the batch."""
    if not 1 <= len(requests) <= MAX_BATCH:
        raise InvalidRequest(f"A batch holds 1 to {MAX_BATCH} charges.", param="charges")
    wallet_ids = {r.wallet_id for r in requests}
    wallets = {
        w.id: w
        for w in Wallet.objects.select_related("ledger_account").filter(
            organization=organization, pk__in=wallet_ids
        )
    }
    specs: list[ledger.TransferSpec] = []
    charge_ids: list[str] = []
    for index, item in enumerate(requests):
        wallet = wallets.get(item.wallet_id)
        if wallet is None:
            raise ResourceMissing(
                f"No such wallet: {item.wallet_id!r}.", param=f"charges[{index}].wallet"
            )
        amount = validate_amount(item.amount, wallet.currency, param=f"charges[{index}].amount")
        if not item.idempotency_key:
            raise InvalidRequest(
                "Every charge in a batch needs an idempotency_key.",
                param=f"charges[{index}].idempotency_key",
            )
        _check_key(item.idempotency_key, f"charges[{index}].idempotency_key")
        charge_id = new_id("wch")
        charge_ids.append(charge_id)
        specs.append(
            ledger.TransferSpec(
                kind="wallet_charge",
                idempotency_key=_ledger_key(wallet.id, item.idempotency_key),
                postings=(
                    ledger.Posting(wallet.ledger_account_id, -amount),
                    ledger.Posting(
                        house_account(organization.id, "wallet_usage", wallet.currency), amount
                    ),
                ),
                reference=charge_id,
                description=(item.description or "")[:500],
                metadata=validate_metadata(item.metadata, param=f"charges[{index}].metadata"),
            )
        )
    try:
        with transaction.atomic():
            posted = ledger.post_batch(organization.id, specs)
            return _finish_batch(organization, wallets, requests, specs, charge_ids, posted)
    except ledger.InsufficientFunds as exc:
        culprit = next(
            (w.id for w in wallets.values() if w.ledger_account_id == exc.account_id), None
        )
        raise InsufficientFunds(
            f"The batch would take wallet {culprit} below its floor; nothing was charged."
            if culprit
            else None,
            param="charges",
        ) from exc


def _finish_batch(
    organization: Organization,
    wallets: dict[str, Wallet],
    requests: Sequence[ChargeRequest],
    specs: list[ledger.TransferSpec],
    charge_ids: list[str],
    posted: list[ledger.Posted],
) -> list[dict[str, Any]]:
    now = timezone.now()
    states: dict[int, tuple[int, int]] = {}  # account -> (balance, newest entry id) now
    for outcome in posted:
        for account_id, (balance, entry_id) in outcome.balances.items():
            if account_id not in states or entry_id > states[account_id][1]:
                states[account_id] = (balance, entry_id)
    charged: dict[str, int] = {}
    fresh_by_wallet: dict[str, list[str]] = {}
    first_charge: dict[str, str] = {}  # a key repeated inside the batch is charged once
    results: list[dict[str, Any]] = []
    replayed_ids = [p.transaction_id for p in posted if p.replayed]
    originals = (
        {t.pk: t for t in LedgerTransaction.objects.filter(pk__in=replayed_ids)}
        if replayed_ids
        else {}
    )
    for item, spec, charge_id, outcome in zip(requests, specs, charge_ids, posted, strict=True):
        wallet = wallets[item.wallet_id]
        amount = -spec.postings[0].amount
        if outcome.replayed or spec.idempotency_key in first_charge:
            original = originals.get(outcome.transaction_id)
            results.append(
                charge_dict(
                    charge_id=original.reference
                    if original
                    else first_charge[spec.idempotency_key],
                    wallet=wallet,
                    amount=amount,
                    description=spec.description,
                    metadata=spec.metadata,
                    balance_after=None,
                    created=original.created_at if original else now,
                    replayed=True,
                )
            )
            continue
        first_charge[spec.idempotency_key] = charge_id
        charged[wallet.id] = charged.get(wallet.id, 0) + amount
        fresh_by_wallet.setdefault(wallet.id, []).append(charge_id)
        results.append(
            charge_dict(
                charge_id=charge_id,
                wallet=wallet,
                amount=amount,
                description=spec.description,
                metadata=spec.metadata,
                balance_after=None,
                created=now,
            )
        )
    for wallet_id, total in charged.items():
        wallet = wallets[wallet_id]
        balance, sequence = states[wallet.ledger_account_id]
        after_change(wallet, before=balance + total, after=balance, sequence=sequence)
        emit(
            organization.id,
            "wallet.charges_posted",
            {
                "id": wallet.id,
                "object": "wallet_charge_batch",
                "wallet": wallet.id,
                "currency": wallet.currency,
                "count": len(fresh_by_wallet[wallet_id]),
                "amount": total,
                "balance": balance,
                "charges": fresh_by_wallet[wallet_id],
            },
        )
    return results


def _charge_from_ledger(wallet: Wallet, txn_id: int, *, replayed: bool = False) -> dict[str, Any]:
    txn = LedgerTransaction.objects.get(pk=txn_id)
    entry = txn.entries.get(account_id=wallet.ledger_account_id)
    return charge_dict(
        charge_id=txn.reference,
        wallet=wallet,
        amount=-entry.amount,
        description=txn.description,
        metadata=txn.metadata,
        balance_after=entry.balance_after,
        created=txn.created_at,
        reversed_=LedgerTransaction.objects.filter(reverses_id=txn.pk).exists(),
        replayed=replayed,
    )


def get_charge(organization: Organization, charge_id: str) -> dict[str, Any]:
    txn = LedgerTransaction.objects.filter(
        organization=organization, kind="wallet_charge", reference=charge_id
    ).first()
    if txn is None:
        raise ChargeMissing(f"No such wallet charge: {charge_id!r}.", param="id")
    wallet = get_wallet(organization, txn.idempotency_key.split(":", 1)[0])
    return _charge_from_ledger(wallet, txn.pk)


def reverse_charge(organization: Organization, charge_id: str) -> dict[str, Any]:
    """Give a charge back (once; a repeat answers with the reversed charge)."""
    found = LedgerTransaction.objects.filter(
        organization=organization, kind="wallet_charge", reference=charge_id
    ).first()
    if found is None:
        raise ChargeMissing(f"No such wallet charge: {charge_id!r}.", param="id")
    wallet = get_wallet(organization, found.idempotency_key.split(":", 1)[0])
    with transaction.atomic():
        posted = ledger.reverse(
            organization.id,
            found.pk,
            idempotency_key=f"{charge_id}:reversal",
            kind="wallet_charge_reversal",
        )
        result = _charge_from_ledger(wallet, found.pk)
        if not posted.replayed:
            balance, sequence = balance_state(wallet.ledger_account_id)
            after_change(
                wallet, before=balance - result["amount"], after=balance, sequence=sequence
            )
            emit(organization.id, "wallet.charge_reversed", result)
    return result


# -- staff adjustments -----------------------------------------------------------------------


def adjust(wallet: Wallet, *, amount: int, reason: str, actor: Actor) -> Adjustment:
    """A staff correction: credit (positive) or debit (negative), with a reason, audited."""
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise InvalidRequest("A reason is required.", param="reason")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise InvalidRequest("The amount is a non-zero integer.", param="amount")
    validate_amount(abs(amount), wallet.currency)
    house = house_account(wallet.organization_id, "wallet_adjustment", wallet.currency)
    adjustment = Adjustment(
        organization_id=wallet.organization_id,
        wallet=wallet,
        amount=amount,
        currency=wallet.currency,
        reason=reason[:500],
        created_by=actor.label[:200],
    )
    try:
        with transaction.atomic():
            adjustment.save(force_insert=True)
            ledger.post(
                wallet.organization_id,
                ledger.transfer(
                    kind="wallet_adjustment",
                    idempotency_key=adjustment.id,
                    source=house if amount > 0 else wallet.ledger_account_id,
                    destination=wallet.ledger_account_id if amount > 0 else house,
                    amount=abs(amount),
                    reference=adjustment.id,
                    description=reason[:500],
                ),
            )
            balance, sequence = balance_state(wallet.ledger_account_id)
            after_change(wallet, before=balance - amount, after=balance, sequence=sequence)
            audit.record(
                actor=actor,
                action="wallet.adjusted",
                organization_id=wallet.organization_id,
                obj=adjustment,
                reason=reason,
                before={"balance": balance - amount},
                after={"balance": balance},
            )
            emit(wallet.organization_id, "wallet.adjusted", wallet_dict(wallet, balance=balance))
    except ledger.InsufficientFunds as exc:
        raise InsufficientFunds(
            "The debit would take the wallet below its floor.", param="amount"
        ) from exc
    return adjustment
