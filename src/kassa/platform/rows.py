"""Plain-ORM versions of the fast path's writes, for repositories when `fastdb.active()` is
false (SQLite, or KASSA_DB_FASTPATH=0)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Model


def insert_unless_duplicate(instance: Model) -> bool:
    """INSERT a new instance, or nothing when a row with the same unique key exists (what
    `fastdb.insert(..., skip_conflicts=True)` does with ON CONFLICT DO NOTHING); whether it was
    inserted. Behind a savepoint, so the caller's transaction goes on either way; any other
    integrity error (a NOT NULL, a foreign key) is raised."""
    try:
        with transaction.atomic():
            instance.save(force_insert=True)
    except IntegrityError as exc:
        if not _duplicate(exc):
            raise
        return False
    return True


def _duplicate(exc: IntegrityError) -> bool:
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == "23505")  # PostgreSQL's unique_violation
    return "UNIQUE constraint failed" in str(exc)  # SQLite's message
