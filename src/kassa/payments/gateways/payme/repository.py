"""Payme's hot statements: the payment and the Payme transactions that hold it, read and
locked in one round trip on PostgreSQL's fast path (`kassa.platform.fastdb`) when it is active,
through the ORM otherwise. Profiles of the Payme benchmark showed Django building querysets as
the largest CPU cost per call, hence the fast path. Locks are always taken in one order: the
payment, then its transactions (CreateTransaction and Perform/Cancel alike), so no deadlocks."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Exists, OuterRef, Q, Subquery

from kassa.payments.gateways.payme.models import PaymeTransaction
from kassa.payments.models import Payment
from kassa.platform import fastdb

# Transaction states (kassa.payme.protocol.State): 1 created (holds the payment), 2 performed.
_HOLDING = (1, 2)

_TXN_TABLE = PaymeTransaction._meta.db_table
_PAYMENT_TABLE = Payment._meta.db_table
# Whether Payme transactions hold a payment (any, or a live one), read with the payment.
_HOLDS = (
    (
        "payme_held",
        f"EXISTS(SELECT 1 FROM {_TXN_TABLE} h WHERE h.payment_id = {_PAYMENT_TABLE}.id"  # noqa: S608 (table names from _meta)
        " AND h.state IN (1, 2))",
    ),
    (
        "payme_live",
        f"EXISTS(SELECT 1 FROM {_TXN_TABLE} h WHERE h.payment_id = {_PAYMENT_TABLE}.id"  # noqa: S608 (table names from _meta)
        " AND (h.state = 2 OR (h.state = 1 AND h.payme_time >= %s)))",
    ),
)


def payment_with_holds(payment_id: str, organization_id: str, live_since: int) -> Payment | None:
    """The payment, with `payme_held` (a created or performed transaction holds it) and
    `payme_live` (a performed one, or a created one whose Payme time is `live_since` or later)
    set on it. One query."""
    if fastdb.active():
        return fastdb.get(
            Payment,
            "id = %s AND organization_id = %s",
            [live_since, payment_id, organization_id],
            annotations=_HOLDS,
        )
    holders = PaymeTransaction.objects.filter(payment_id=OuterRef("pk"))
    return (
        Payment.objects.filter(pk=payment_id, organization_id=organization_id)
        .annotate(
            payme_held=Exists(holders.filter(state__in=_HOLDING)),
            payme_live=Exists(holders.filter(Q(state=2) | Q(state=1, payme_time__gte=live_since))),
        )
        .first()
    )


def lock_for_create(
    account_id: str, organization_id: str, payment_id: str, payme_id: str
) -> tuple[Payment | None, list[PaymeTransaction]]:
    """Lock the payment, then this account's transaction `payme_id` and the transactions that
    hold the payment (none when the payment does not exist): one round trip on the fast path."""
    if fastdb.active():
        payments, found = fastdb.select_together(
            fastdb.Query(
                Payment,
                "id = %s AND organization_id = %s",
                [payment_id, organization_id],
                lock=True,
                limit=1,
            ),
            fastdb.Query(
                PaymeTransaction,
                "(gateway_account_id = %s AND payme_id = %s)"
                " OR (payment_id = %s AND state IN (1, 2))",
                [account_id, payme_id, payment_id],
                lock=True,
            ),
        )
        return (payments[0] if payments else None), found
    payment = (
        Payment.objects.select_for_update()
        .filter(pk=payment_id, organization_id=organization_id)
        .first()
    )
    transactions = PaymeTransaction.objects.select_for_update().filter(
        Q(gateway_account_id=account_id, payme_id=payme_id)
        | Q(payment_id=payment_id, state__in=_HOLDING)
    )
    return payment, list(transactions)


def lock_by_payme_id(
    account_id: str, payme_id: str
) -> tuple[Payment | None, PaymeTransaction | None]:
    """Lock the payment of this account's transaction `payme_id` (found by a subquery), then
    the transaction: the order CreateTransaction takes them in. One round trip on the fast
    path."""
    if fastdb.active():
        payments, txns = fastdb.select_together(
            fastdb.Query(
                Payment,
                f"id = (SELECT payment_id FROM {_TXN_TABLE}"  # noqa: S608 (the table name from _meta)
                " WHERE gateway_account_id = %s AND payme_id = %s)",
                [account_id, payme_id],
                lock=True,
                limit=1,
            ),
            fastdb.Query(
                PaymeTransaction,
                "gateway_account_id = %s AND payme_id = %s",
                [account_id, payme_id],
                lock=True,
                limit=1,
            ),
        )
        return (payments[0] if payments else None), (txns[0] if txns else None)
    of_payme_id = PaymeTransaction.objects.filter(gateway_account_id=account_id, payme_id=payme_id)
    payment = (
        Payment.objects.select_for_update()
        .filter(pk=Subquery(of_payme_id.values("payment_id")[:1]))
        .first()
    )
    return payment, of_payme_id.select_for_update().first()


def insert_transaction(txn: PaymeTransaction) -> None:
    if fastdb.active():
        fastdb.insert(txn)
    else:
        txn.save(force_insert=True)


def save_transaction(txn: PaymeTransaction, fields: Sequence[str]) -> None:
    """The named fields of a transaction the caller holds locked (deferred on the fast path)."""
    if fastdb.active():
        fastdb.update(txn, fields, defer=True)
    else:
        txn.save(update_fields=list(fields))
