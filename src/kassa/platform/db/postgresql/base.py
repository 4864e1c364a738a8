"""Django's PostgreSQL backend with two changes (the second only on the fast path).

No `varchar_pattern_ops` ("_like") indexes. For every indexed text column (every foreign key to
a prefixed id, every `db_index` string) Django adds a second index that only serves
`LIKE 'prefix%'` queries. Kassa runs none (ids are matched exactly; the admin's searches use
`icontains`, which no btree index serves), and each extra index is written on every insert and
every non-HOT update: a payment had 16 indexes, 7 of them such. Migration core 0003 drops the
ones older installations have.

Deferred writes (`kassa.platform.fastdb`, `defer=True`): writes that nothing in the transaction
reads back wait on the connection and are sent in one pipeline ahead of the next statement,
whoever sends it (Django's cursors here, `fastdb`, the ledger), or together with the COMMIT.
See "Deferred writes" in `kassa.platform.fastdb`. With `KASSA_DB_FASTPATH=0` nothing is
deferred and every method below hands over to Django's own: the backend is then stock Django
(client-side binding, psycopg's transactions), less the "_like" indexes.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.db.backends.postgresql import base
from django.db.backends.postgresql.schema import DatabaseSchemaEditor as PostgresSchemaEditor
from django.db.backends.utils import debug_transaction

from kassa.platform import pgwire


class DatabaseSchemaEditor(PostgresSchemaEditor):
    def _create_like_index_sql(self, model: Any, field: Any) -> None:
        return None


# A queued write, its parameters already adapted (pgwire.convert): a value PostgreSQL cannot
# take raises where the write is queued, not in whichever later statement sends it.
Deferred = pgwire.Converted
_BEGIN = pgwire.Converted(b"BEGIN", None, (), None, False)


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from django.conf import settings

        # The fast path (kassa.platform.fastdb, pgwire, deferred writes), read once per
        # connection wrapper: KASSA_DB_FASTPATH.
        self.kassa_fastpath: bool = bool(getattr(settings, "KASSA_DB_FASTPATH", True))
        self.kassa_deferred: list[Deferred] = []
        # Savepoints rolled back before they reached the server: Django releases a savepoint
        # after rolling back to it, which then has nothing to release.
        self.kassa_unsent_savepoints: set[str] = set()

    def queue_deferred(self, statement: str, params: list[Any]) -> None:
        assert self.kassa_fastpath, "deferred writes are the fast path's"
        self.ensure_connection()
        with self.wrap_database_errors:
            self.kassa_deferred.append(pgwire.convert(self.connection, statement, params))

    def _command(self, sql: str) -> Deferred:
        return pgwire.Converted(sql.encode(), None, (), None, False)

    def run_batch(self, items: list[pgwire.Item]) -> list[pgwire.Rows | None]:
        """The queued writes, then `items`, in one round trip; the rows of each of `items`."""
        assert self.kassa_fastpath, "batches through pgwire are the fast path's"
        self.ensure_connection()
        assert self.connection is not None
        conn = self.connection
        with self.wrap_database_errors:
            # Adapted before the queue is taken: an item that cannot be sent leaves the queued
            # writes queued, and the transaction as it was.
            batch = [pgwire.convert(conn, sql, params, want) for sql, params, want in items]
            head, self.kassa_deferred = self.kassa_deferred, []
            try:
                results = pgwire.run(conn, [*head, *batch], timeout=self._batch_timeout())
            except BaseException:
                if conn.closed:
                    # pgwire gave the connection up: Django opens a new one for the next
                    # statement (or, inside a transaction, once it has been rolled back).
                    self.errors_occurred = True
                    self.close()
                raise
        return results[len(head) :]

    def _batch_timeout(self) -> float:
        from django.conf import settings

        return float(getattr(settings, "KASSA_DATABASE_TIMEOUT", pgwire.DEFAULT_TIMEOUT))

    def send_deferred(self, *, commit: bool = False) -> None:
        """Send the queued writes now in one round trip (with the COMMIT if `commit`)."""
        self.run_batch([("COMMIT", None, False)] if commit else [])

    # psycopg itself always stays in autocommit mode. Where Django turns autocommit off to
    # begin a transaction, the BEGIN is queued as the first deferred write instead, so it
    # travels in the same round trip as the transaction's first statement (psycopg would send
    # it, and wait for it, on its own); a transaction that never reached the server (nothing
    # but deferred writes yet) is committed in one round trip, or rolled back in none.

    def _set_autocommit(self, autocommit: bool) -> None:
        if not self.kassa_fastpath:
            super()._set_autocommit(autocommit)  # type: ignore[misc]  # (django-stubs omit it)
            return
        if self.connection is not None and not self.connection.autocommit:
            with self.wrap_database_errors:
                self.connection.autocommit = True
        if not autocommit:
            self.kassa_deferred = [_BEGIN]
        elif self.kassa_deferred == [_BEGIN]:
            self.kassa_deferred = []
        elif self.kassa_deferred:
            raise psycopg.ProgrammingError("autocommit turned on with writes still queued")

    def _begun(self) -> bool:
        """Whether the server has seen this transaction's BEGIN."""
        return not (self.kassa_deferred and self.kassa_deferred[0] is _BEGIN)

    def _cursor(self, name: str | None = None) -> Any:
        if self.kassa_deferred:  # (always empty with the fast path off)
            self.send_deferred()
        return super()._cursor(name)  # type: ignore[misc]  # (django-stubs omit it)

    def _commit(self) -> None:
        if not self.kassa_fastpath:
            super()._commit()  # type: ignore[misc]  # (django-stubs omit it)
            return
        self.kassa_unsent_savepoints.clear()
        if self.kassa_deferred == [_BEGIN]:
            self.kassa_deferred = []  # nothing happened in this transaction
            return
        if self.kassa_deferred and self.connection is not None:
            with debug_transaction(self, "COMMIT"):
                self.send_deferred(commit=True)
            return
        super()._commit()  # type: ignore[misc]  # (django-stubs omit it)

    def _rollback(self) -> None:
        if not self.kassa_fastpath:
            super()._rollback()  # type: ignore[misc]  # (django-stubs omit it)
            return
        begun = self._begun()
        self.kassa_deferred = []
        self.kassa_unsent_savepoints.clear()
        if begun:
            super()._rollback()  # type: ignore[misc]  # (django-stubs omit it)

    # Savepoints (Django's nested atomic blocks) are deferred commands too: SAVEPOINT travels
    # with the first statement inside the block, RELEASE with the next one after it, and a
    # block that rolls back before anything inside it reached the server costs nothing.

    def _savepoint(self, sid: str) -> None:
        if not self.kassa_fastpath:
            super()._savepoint(sid)  # type: ignore[misc]  # (django-stubs omit it)
            return
        self.kassa_deferred.append(self._command(self.ops.savepoint_create_sql(sid)))

    def _savepoint_commit(self, sid: str) -> None:
        if not self.kassa_fastpath:
            super()._savepoint_commit(sid)  # type: ignore[misc]  # (django-stubs omit it)
            return
        if sid in self.kassa_unsent_savepoints:
            self.kassa_unsent_savepoints.discard(sid)
            return
        self.kassa_deferred.append(self._command(self.ops.savepoint_commit_sql(sid)))

    def _savepoint_rollback(self, sid: str) -> None:
        # The queue is sent whole whenever anything is sent: if the SAVEPOINT is still queued,
        # it and what follows it are all there is to undo; if it was sent, everything still
        # queued came after it.
        if not self.kassa_fastpath:
            super()._savepoint_rollback(sid)  # type: ignore[misc]  # (django-stubs omit it)
            return
        create = self.ops.savepoint_create_sql(sid).encode()
        for index, queued in enumerate(self.kassa_deferred):
            if queued.params is None and queued.query == create:
                del self.kassa_deferred[index:]
                self.kassa_unsent_savepoints.add(sid)
                return
        self.kassa_deferred = []
        super()._savepoint_rollback(sid)  # type: ignore[misc]  # (django-stubs omit it)

    def _close(self) -> None:
        self.kassa_deferred = []
        self.kassa_unsent_savepoints.clear()
        super()._close()  # type: ignore[misc]  # (django-stubs omit it)
