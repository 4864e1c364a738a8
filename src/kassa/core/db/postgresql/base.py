"""Django's PostgreSQL backend without the `varchar_pattern_ops` ("_like") indexes.

For every indexed text column (every foreign key to a prefixed id, every `db_index` string)
Django adds a second index that only serves `LIKE 'prefix%'` queries. Kassa runs none (ids are
matched exactly; the admin's searches use `icontains`, which no btree index serves), and each
extra index is written on every insert and every non-HOT update: a payment had 16 indexes, 7
of them such. Migration core 0003 drops the ones older installations have.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base
from django.db.backends.postgresql.schema import DatabaseSchemaEditor as PostgresSchemaEditor


class DatabaseSchemaEditor(PostgresSchemaEditor):
    def _create_like_index_sql(self, model: Any, field: Any) -> None:
        return None


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
