"""A wallet's history: its ledger entries, filtered, paged, or streamed as CSV.

The CSV is produced row by row from a database iterator (a server-side cursor on PostgreSQL,
chunked fetches on SQLite) and sent as it is produced, so a wallet with a million
transactions is exported without holding them in memory. Under ASGI the rows are pulled
through an async generator: Django would otherwise collect a synchronous iterator into a list
before sending it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import Q, QuerySet
from django.db.models.functions import Abs

from kassa.core.errors import InvalidRequest, InvalidStartingAfter, ResourceMissing
from kassa.core.money import MAX_AMOUNT, InvalidAmount
from kassa.core.representations import iso
from kassa.ledger.models import LedgerEntry
from kassa.wallets.models import Wallet
from kassa.wallets.representations import KIND_TO_TYPE, TYPE_TO_KINDS, transaction_dict

CSV_COLUMNS = [
    "id",
    "created",
    "type",
    "amount",
    "currency",
    "balance_after",
    "description",
    "reference",
]
CHUNK = 2000
# A wallet transaction's id is its ledger entry's number (a bigint): wtx_ and up to 18 digits.
_TRANSACTION_ID = re.compile(r"wtx_([0-9]{1,18})")


class UnknownTransactionType(InvalidRequest):
    code = "unknown_transaction_type"
    default_message = "No such wallet transaction type."


def entries(
    wallet: Wallet,
    *,
    types: str | None = None,
    created_gte: datetime | None = None,
    created_lte: datetime | None = None,
    amount_gte: int | None = None,
    amount_lte: int | None = None,
    q: str | None = None,
) -> QuerySet[LedgerEntry]:
    """The wallet's entries matching the filters. Amount bounds apply to the absolute amount
    (a charge of 5.00 is "5.00" whichever way it moved the balance)."""
    queryset = LedgerEntry.objects.filter(account_id=wallet.ledger_account_id)
    if types:
        kinds: list[str] = []
        for name in (part.strip() for part in types.split(",") if part.strip()):
            if name not in TYPE_TO_KINDS:
                raise UnknownTransactionType(
                    f"Unknown type {name!r}; use {', '.join(sorted(TYPE_TO_KINDS))}.", param="type"
                )
            kinds += TYPE_TO_KINDS[name]
        queryset = queryset.filter(transaction__kind__in=kinds)
    if created_gte:
        queryset = queryset.filter(created_at__gte=created_gte)
    if created_lte:
        queryset = queryset.filter(created_at__lte=created_lte)
    for name, bound in (("amount_gte", amount_gte), ("amount_lte", amount_lte)):
        # Past MAX_AMOUNT no entry can match, and SQLite cannot even compare past a bigint.
        if bound is not None and not 0 <= bound <= MAX_AMOUNT:
            raise InvalidAmount(
                f"{name} is an absolute amount in minor units, 0 to {MAX_AMOUNT}.", param=name
            )
    if amount_gte is not None or amount_lte is not None:
        queryset = queryset.annotate(size=Abs("amount"))
        if amount_gte is not None:
            queryset = queryset.filter(size__gte=amount_gte)
        if amount_lte is not None:
            queryset = queryset.filter(size__lte=amount_lte)
    if q:
        text = q.strip()[:200]
        queryset = queryset.filter(
            Q(transaction__description__icontains=text) | Q(transaction__reference=text)
        )
    return queryset


def page(
    queryset: QuerySet[LedgerEntry], wallet: Wallet, limit: int, starting_after: str | None
) -> dict[str, Any]:
    """One page of `queryset` (the wallet's entries, filtered), newest first. `starting_after`
    follows kassa.core.pagination: another kind of id is a 400, an id that is not one of the
    wallet's transactions a 404."""
    queryset = queryset.select_related("transaction").order_by("-id")
    if starting_after is not None:
        if not starting_after.startswith("wtx_"):
            raise InvalidStartingAfter(
                f"starting_after takes wallet transaction ids (wtx_...), not {starting_after!r}.",
                param="starting_after",
            )
        found = _TRANSACTION_ID.fullmatch(starting_after)
        number = int(found.group(1)) if found else None
        if (
            number is None
            or not LedgerEntry.objects.filter(
                account_id=wallet.ledger_account_id, pk=number
            ).exists()
        ):
            raise ResourceMissing(
                f"No such wallet transaction: {starting_after!r}. starting_after takes the id "
                "of a transaction of this wallet (the last one of the previous page).",
                param="starting_after",
            )
        queryset = queryset.filter(pk__lt=number)
    rows = list(queryset[: limit + 1])
    return {
        "object": "list",
        "data": [transaction_dict(row, wallet.id) for row in rows[:limit]],
        "has_more": len(rows) > limit,
    }


def _safe(value: str) -> str:
    # A spreadsheet would run a cell starting with these as a formula.
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_rows(queryset: QuerySet[LedgerEntry]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    rows = (
        queryset.order_by("-id")
        .values_list(
            "id",
            "created_at",
            "transaction__kind",
            "amount",
            "currency",
            "balance_after",
            "transaction__description",
            "transaction__reference",
        )
        .iterator(chunk_size=CHUNK)
    )
    for count, (pk, created, kind, amount, currency, after, description, reference) in enumerate(
        rows, 1
    ):
        writer.writerow(
            [
                f"wtx_{pk}",
                iso(created),
                KIND_TO_TYPE.get(kind, kind),
                amount,
                currency,
                after,
                _safe(description),
                reference,
            ]
        )
        if count % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def csv_stream(queryset: QuerySet[LedgerEntry]) -> Iterator[bytes]:
    """For WSGI (and the test client)."""
    return _csv_rows(queryset)


async def csv_stream_async(queryset: QuerySet[LedgerEntry]) -> AsyncIterator[bytes]:
    """For ASGI: each chunk is produced on the thread that owns the database connection."""
    rows = _csv_rows(queryset)
    done = object()
    pull = sync_to_async(lambda: next(rows, done), thread_sensitive=True)
    while True:
        chunk = await pull()
        if chunk is done:
            break
        assert isinstance(chunk, bytes)
        yield chunk
