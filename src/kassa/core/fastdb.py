"""Single-row reads and writes for the hot paths, without building querysets.

Django builds and compiles a queryset for every call; for one row by key that is most of the
cost (measured on the 2-core machine: `Payment.objects.get(pk=...)` 346 µs of CPU, the same
SELECT through a cursor 73 µs; `objects.create` 242 µs, the same INSERT 143 µs). The few
statements that every payment, Payme call or wallet charge runs are therefore written here
once per model and reused: the same columns, the same conversions (the fields' own
`get_db_prep_save` on the way in, the backend's and the fields' converters on the way out) and
the same instances (`Model.from_db`) as the ORM's, so callers keep working with model objects.

On PostgreSQL the statements are bound server-side and prepared once per connection (no
quoting of every parameter into the SQL text in Python, no parse and plan in PostgreSQL each
time); on SQLite they go through Django's cursor.

Writes send `pre_save` and `post_save` as the ORM's `save()` does (when a model has receivers:
django-tasks-db sets a task's `run_after` in one, the hot caches watch a few models in
others). They never commit: the caller's transaction (or autocommit) applies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model
from django.db.models.fields import AutoFieldMixin
from django.db.models.signals import post_save, pre_save

Converter = tuple[Callable[..., Any], Any]
_selects: dict[tuple[type[Model], str, bool, str], str] = {}
_converters: dict[tuple[type[Model], str], list[tuple[int, list[Converter]]]] = {}
_inserts: dict[tuple[type[Model], str, bool], tuple[str, list[Any], bool]] = {}


def _fields(model: type[Model]) -> list[Any]:
    return list(model._meta.concrete_fields)


def _row_converters(model: type[Model]) -> list[tuple[int, list[Converter]]]:
    key = (model, connection.vendor)
    found = _converters.get(key)
    if found is None:
        found = []
        for index, field in enumerate(_fields(model)):
            column = field.get_col(model._meta.db_table)
            funcs = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
            if funcs:
                found.append((index, [(func, column) for func in funcs]))
        _converters[key] = found
    return found


def _execute(statement: str, params: Sequence[Any], *, fetch: bool) -> Sequence[Any] | None:
    """Run one statement; the first row when `fetch`."""
    if connection.vendor == "postgresql":
        import psycopg

        connection.ensure_connection()
        with connection.wrap_database_errors:
            cursor: psycopg.Cursor[Any] = psycopg.Cursor(connection.connection)
            with cursor:
                cursor.execute(statement, params, prepare=True)
                return cursor.fetchone() if fetch else None
    with connection.cursor() as django_cursor:
        django_cursor.execute(statement, params)
        return django_cursor.fetchone() if fetch else None


def _instance[M: Model](model: type[M], row: Sequence[Any]) -> M:
    values = list(row)
    for index, funcs in _row_converters(model):
        for func, column in funcs:
            values[index] = func(values[index], column, connection)
    return model.from_db(connection.alias, [f.attname for f in _fields(model)], values)


def get[M: Model](
    model: type[M], where: str, params: Sequence[Any], *, lock: bool = False
) -> M | None:
    """The first row of `model` matching `where` (SQL over its columns, `%s` placeholders), or
    None; `lock` adds FOR UPDATE where the database has it (SQLite's transactions take the
    write lock up front instead)."""
    lock = lock and connection.features.has_select_for_update
    key = (model, where, lock, connection.vendor)
    statement = _selects.get(key)
    if statement is None:
        columns = ", ".join(connection.ops.quote_name(f.column) for f in _fields(model))
        table = connection.ops.quote_name(model._meta.db_table)
        statement = f"SELECT {columns} FROM {table} WHERE {where} LIMIT 1"  # noqa: S608 (columns from _meta)
        if lock:
            statement += " FOR UPDATE"
        _selects[key] = statement
    row = _execute(statement, list(params), fetch=True)
    return None if row is None else _instance(model, row)


def _pre_save(instance: Model, update_fields: frozenset[str] | None) -> None:
    model = type(instance)
    if pre_save.has_listeners(model):
        pre_save.send(
            sender=model,
            instance=instance,
            raw=False,
            using=connection.alias,
            update_fields=update_fields,
        )


def _post_save(instance: Model, created: bool, update_fields: frozenset[str] | None) -> None:
    model = type(instance)
    if post_save.has_listeners(model):
        post_save.send(
            sender=model,
            instance=instance,
            created=created,
            update_fields=update_fields,
            raw=False,
            using=connection.alias,
        )


def insert(instance: Model, *, skip_conflicts: bool = False) -> bool:
    """INSERT every concrete field of a new instance. Kassa's prefixed ids are minted in
    Python; an auto-increment key is left to the database and read back. With
    `skip_conflicts` a row that violates a unique constraint is not inserted (ON CONFLICT DO
    NOTHING, no error, so no savepoint is needed) and False is returned."""
    model = type(instance)
    _pre_save(instance, None)
    key = (model, connection.vendor, skip_conflicts)
    prepared = _inserts.get(key)
    if prepared is None:
        pk = model._meta.pk
        auto = isinstance(pk, AutoFieldMixin)
        fields = [f for f in _fields(model) if not (auto and f is pk)]
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        table = connection.ops.quote_name(model._meta.db_table)
        marks = ", ".join(["%s"] * len(fields))
        statement = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
        if skip_conflicts:
            statement += " ON CONFLICT DO NOTHING"
        if auto or skip_conflicts:
            assert pk is not None
            statement += f" RETURNING {connection.ops.quote_name(str(pk.column))}"
        prepared = (statement, fields, auto)
        _inserts[key] = prepared
    statement, fields, auto = prepared
    if instance.pk is None and not auto:
        raise ValueError(f"{model.__name__} needs its primary key set before insert()")
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    returned = _execute(statement, values, fetch=auto or skip_conflicts)
    if returned is None and (auto or skip_conflicts):
        return False
    if auto:
        assert returned is not None
        instance.pk = returned[0]
    instance._state.adding = False
    instance._state.db = connection.alias
    _post_save(instance, True, None)
    return True


def update(instance: Model, fields: Sequence[str]) -> None:
    """UPDATE the named fields (attribute names) of a saved instance from its values."""
    model = type(instance)
    _pre_save(instance, frozenset(fields))
    meta = model._meta
    chosen: list[Field[Any, Any]] = []
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, Field)
        assert field.column
        chosen.append(field)
    assignments = ", ".join(f"{connection.ops.quote_name(str(f.column))} = %s" for f in chosen)
    table = connection.ops.quote_name(meta.db_table)
    assert meta.pk is not None
    pk_column = connection.ops.quote_name(str(meta.pk.column))
    values = [f.get_db_prep_save(f.pre_save(instance, False), connection) for f in chosen]
    values.append(meta.pk.get_db_prep_value(instance.pk, connection))
    _execute(f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s", values, fetch=False)  # noqa: S608
    _post_save(instance, False, frozenset(fields))
