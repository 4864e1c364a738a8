"""ledger_account keeps room on its pages for the next version of each row (PostgreSQL), so
that a posting's balance update is heap-only (HOT) and adds no index entries
(migration ledger 0005)."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_ledger_account_is_created_with_room_on_its_pages() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'ledger_account'")
        (options,) = cursor.fetchone()
    assert "fillfactor=50" in (options or [])
