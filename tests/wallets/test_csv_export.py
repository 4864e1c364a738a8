"""The CSV export streams: memory stays flat however long the history (PostgreSQL), and the
ASGI path yields the same bytes as the WSGI one."""

from __future__ import annotations

import csv
import io
import tracemalloc
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection

from kassa.wallets import history
from kassa.wallets.models import Wallet

pytestmark = pytest.mark.django_db

ROWS = 200_000


@pytest.mark.postgres
def test_export_of_a_long_history_streams_in_flat_memory(api: Any, wallet: Wallet) -> None:
    # Rows written straight into the tables (the ledger would take minutes for this many);
    # only the export reads them, so their balances need not add up.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_transaction (organization_id, kind, reference, idempotency_key,"
            " description, metadata, created_at) VALUES (%s, 'wallet_charge', 'wch_bulk',"
            " 'bulk', 'bulk usage', '{}'::jsonb, now()) RETURNING id",
            [wallet.organization_id],
        )
        txn_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO ledger_entry (transaction_id, account_id, amount, currency,"
            " balance_after, created_at) SELECT %s, %s, -1, 'EUR', 10000 - n, now()"
            " FROM generate_series(1, %s) AS n",
            [txn_id, wallet.ledger_account_id, ROWS],
        )
    response = api.get(f"/v1/wallets/{wallet.id}/transactions.csv")
    assert response.status_code == 200
    assert response.streaming
    tracemalloc.start()
    total = 0
    lines = 0
    try:
        for chunk in response.streaming_content:
            total += len(chunk)
            lines += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == ROWS + 2  # the header, the bulk rows and the fixture's funding
    assert total > 15_000_000
    # Everything at once would hold the whole file (and far more as row objects).
    assert peak < total / 4, (peak, total)


def test_asgi_stream_matches_wsgi_stream(api: Any, wallet: Wallet) -> None:
    for i in range(3):
        api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 10 + i, "description": f"c{i}"})
    queryset = history.entries(wallet)
    sync_bytes = b"".join(history.csv_stream(queryset))

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in history.csv_stream_async(queryset)])

    async_bytes = async_to_sync(collect)()
    assert async_bytes == sync_bytes
    rows = list(csv.reader(io.StringIO(sync_bytes.decode())))
    assert [row[2] for row in rows[1:]] == ["charge", "charge", "charge", "adjustment"]
