"""The idempotency records' hot statements (every POST with an `Idempotency-Key` claims one
and completes it): on PostgreSQL's fast path when it is active, through the ORM otherwise."""

from __future__ import annotations

from collections.abc import Sequence

from kassa.core.models import IdempotencyRecord
from kassa.platform import fastdb, rows


def claim_key(record: IdempotencyRecord) -> bool:
    """Insert the claim unless the organization's key exists already; whether it was
    inserted (one statement, no error either way)."""
    if fastdb.active():
        return fastdb.insert(record, skip_conflicts=True)
    return rows.insert_unless_duplicate(record)


def save_record(record: IdempotencyRecord, fields: Sequence[str]) -> None:
    if fastdb.active():
        fastdb.update(record, fields)
    else:
        record.save(update_fields=list(fields))
