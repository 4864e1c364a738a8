"""PostgreSQL: no "_like" (varchar_pattern_ops) indexes, and migration core 0003 drops old ones."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _like_indexes() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND indexdef LIKE %s",
            ["%pattern_ops%"],
        )
        return [row[0] for row in cursor.fetchall()]


def test_the_schema_has_no_pattern_ops_indexes() -> None:
    assert _like_indexes() == []


def test_a_payment_row_carries_only_the_indexes_its_queries_use() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'payments_payment'")
        assert cursor.fetchone() == (6,)  # it had 16


def test_the_migration_drops_like_indexes_of_older_installations() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE INDEX payments_payment_old_like ON payments_payment"
            " (purpose_id varchar_pattern_ops)"
        )
    assert _like_indexes() == ["payments_payment_old_like"]
    migration = importlib.import_module("kassa.core.migrations.0003_drop_like_indexes")
    with connection.schema_editor() as editor:
        migration.forwards(apps, editor)
    assert _like_indexes() == []
