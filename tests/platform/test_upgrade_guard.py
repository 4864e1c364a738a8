"""Every private API of Django, psycopg, uvicorn and django-tasks-db that kassa.platform relies
on, checked by name and, where it matters, by how the library reaches it (docs/upgrading.md).

The rest of the suite would fail too when one of them changes, but somewhere far away and
with a puzzling message; these fail at the spot, and each message says which module of ours
to look at. Run them first after raising a version cap in pyproject.toml."""

from __future__ import annotations

import inspect
from typing import Any

import psycopg
import pytest
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql import base as django_postgresql
from django.db.backends.postgresql.schema import DatabaseSchemaEditor


def _source(obj: Any) -> str:
    return inspect.getsource(obj)


# -- psycopg (kassa.platform.pgwire) -------------------------------------------------------


def test_psycopg_converts_queries_as_pgwire_expects() -> None:
    from psycopg._queries import PostgresQuery
    from psycopg.adapt import Transformer

    query = PostgresQuery(Transformer())
    query.convert("SELECT %s, %s", [1, "a"])
    assert query.query == b"SELECT $1, $2", "pgwire.convert: PostgresQuery.query changed"
    assert len(query.params or ()) == 2, "pgwire.convert: PostgresQuery.params changed"
    assert len(query.types) == 2, "pgwire.convert: PostgresQuery.types changed"
    assert query.formats is not None, "pgwire.convert: PostgresQuery.formats changed"


def test_psycopg_transformers_load_rows_from_a_result() -> None:
    from psycopg.adapt import Transformer

    for name in ("set_pgresult", "load_rows", "dump_sequence"):
        assert hasattr(Transformer, name), f"pgwire._load_rows: Transformer.{name} is gone"


def test_psycopg_builds_errors_from_results() -> None:
    from psycopg import errors

    parameters = inspect.signature(errors.error_from_result).parameters
    assert "encoding" in parameters, "pgwire: psycopg.errors.error_from_result changed"


def test_psycopg_connections_have_a_lock_and_take_attributes() -> None:
    source = _source(psycopg.Connection.__init__) + _source(psycopg.Connection.__mro__[1].__init__)
    assert "self.lock" in source, "pgwire.run: psycopg.Connection.lock is gone"
    assert not hasattr(psycopg.Connection, "__slots__"), "pgwire._prepared stores an attribute"


def test_libpq_pipeline_calls_pgwire_uses_exist() -> None:
    from psycopg import pq

    for name in (
        "enter_pipeline_mode",
        "exit_pipeline_mode",
        "pipeline_sync",
        "pipeline_status",
        "send_prepare",
        "send_query_prepared",
        "send_query_params",
        "flush",
        "consume_input",
        "is_busy",
        "get_result",
        "socket",
        "status",
        "finish",
    ):
        assert hasattr(pq.PGconn, name), f"pgwire: libpq wrapper has no {name}"
    assert hasattr(psycopg.Connection, "cancel_safe"), "pgwire._recover: no cancel_safe"


# -- Django (kassa.platform.db.postgresql, fastdb, wsgi_bridge) -------------------------------


@pytest.mark.parametrize(
    ("public", "private"),
    [
        ("commit", "_commit"),
        ("rollback", "_rollback"),
        ("set_autocommit", "_set_autocommit"),
        ("savepoint", "_savepoint"),
        ("savepoint_commit", "_savepoint_commit"),
        ("savepoint_rollback", "_savepoint_rollback"),
        ("close", "_close"),
    ],
)
def test_django_routes_transactions_through_the_hooks_the_backend_overrides(
    public: str, private: str
) -> None:
    """kassa.platform.db.postgresql defers BEGIN, savepoints and writes by overriding these
    hooks; they only work while Django's public methods call them."""
    assert hasattr(BaseDatabaseWrapper, private)
    assert f"self.{private}(" in _source(getattr(BaseDatabaseWrapper, public)), (
        f"BaseDatabaseWrapper.{public} no longer calls {private}"
    )
    assert "self._cursor(" in _source(BaseDatabaseWrapper), (
        "Django no longer opens cursors via _cursor"
    )


def test_the_postgresql_schema_editor_still_adds_like_indexes_through_one_method() -> None:
    assert hasattr(DatabaseSchemaEditor, "_create_like_index_sql")
    assert "self._create_like_index_sql(" in _source(DatabaseSchemaEditor), (
        "kassa.platform.db.postgresql.DatabaseSchemaEditor: the _like index hook moved"
    )


def test_django_debug_transaction_and_error_wrapping_exist() -> None:
    from django.db.backends.utils import debug_transaction

    assert callable(debug_transaction)
    assert hasattr(django_postgresql.DatabaseWrapper, "wrap_database_errors")


def test_django_builds_the_middleware_chain_from_settings() -> None:
    """wsgi_bridge.LaneHandler swaps settings.MIDDLEWARE while load_middleware runs."""
    from django.core.handlers.base import BaseHandler

    assert "settings.MIDDLEWARE" in _source(BaseHandler.load_middleware)


def test_django_field_conversions_fastdb_repeats() -> None:
    from django.db.models import Model
    from django.db.models.fields import AutoFieldMixin, Field

    assert hasattr(Model, "from_db")
    for name in ("get_db_converters", "get_col", "pre_save", "get_db_prep_save"):
        assert hasattr(Field, name), f"fastdb: Field.{name} is gone"
    assert AutoFieldMixin is not None
    assert hasattr(django_postgresql.DatabaseOperations, "get_db_converters")


# -- django-tasks-db (kassa.platform.task_backend, worker) -------------------------------------


def test_django_tasks_db_writes_a_task_through_one_method() -> None:
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.compat import normalize_json

    assert callable(normalize_json)
    assert "self._task_to_db_task(" in _source(DatabaseBackend.enqueue), (
        "kassa.platform.task_backend overrides DatabaseBackend._task_to_db_task"
    )
    assert "_get_id" in _source(DatabaseBackend)


def test_django_tasks_db_worker_takes_the_arguments_kassa_passes() -> None:
    from django_tasks_db.management.commands.db_worker import Worker

    parameters = inspect.signature(Worker.__init__).parameters
    for name in (
        "queue_names",
        "interval",
        "batch",
        "backend_name",
        "startup_delay",
        "max_tasks",
        "worker_id",
        "excluded_queue_names",
    ):
        assert name in parameters, f"kassa.platform.worker: Worker() has no {name}"
    assert "self.running" in _source(Worker), "kassa.platform.worker stops loops via .running"


# -- uvicorn (kassa.platform.webserver): public API only ----------------------------------------


def test_uvicorn_serves_on_sockets_it_is_given() -> None:
    import uvicorn

    from kassa.platform.webserver import APP, config_options

    assert "sockets" in inspect.signature(uvicorn.Server.run).parameters
    uvicorn.Config(APP, **config_options("127.0.0.1", 8000))  # every option still accepted
