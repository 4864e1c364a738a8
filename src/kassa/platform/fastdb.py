"""Single-row reads and writes for the hot paths, without building querysets.

Django builds and compiles a queryset for every call; for one row by key that is most of the
cost (measured on the 2-core machine: `Payment.objects.get(pk=...)` 346 µs of CPU, the same
SELECT through a cursor 73 µs; `objects.create` 242 µs, the same INSERT 143 µs). The few
statements that every payment, Payme call or wallet charge runs are therefore written here
once per model and reused: the same columns, the same conversions (the fields' own
`get_db_prep_save` on the way in, the backend's and the fields' converters on the way out) and
the same instances (`Model.from_db`) as the ORM's, so callers keep working with model objects.

The statements are bound server-side and prepared once per connection (no quoting of every
parameter into the SQL text in Python, no parse and plan in PostgreSQL each time), through
`kassa.platform.pgwire`. This is the fast path: PostgreSQL only, and only while
`KASSA_DB_FASTPATH` is on (`active()`). Repositories check `active()` and use the ORM
otherwise (SQLite, or the fast path switched off), so every caller works both ways.

Writes send `pre_save` and `post_save` as the ORM's `save()` does (when a model has receivers:
django-tasks-db sets a task's `run_after` in one, the hot caches watch a few models in
others). They never commit: the caller's transaction (or autocommit) applies.

Deferred writes (`defer=True`, PostgreSQL, inside a transaction): a write whose answer nobody
waits for (an event, a task row, a NOTIFY, the new payment row itself) is queued on the
connection instead of sent, and goes out in one pipeline ahead of the next statement on that
connection, whoever sends it (`_execute` here, the ledger, any Django cursor: the backend in
`kassa.platform.db.postgresql` flushes the queue first), or together with the COMMIT. Every
statement therefore sees the writes queued before it, as if they had been sent at once, while
a transaction that ends in such writes costs one round trip for all of them and its COMMIT
(and holds its row locks that much shorter). A rollback drops the queue, a rollback to a
savepoint the writes queued inside it. The one difference a caller sees: a deferred write's
error (none is expected: their keys are minted in Python) is raised by the next statement or
the commit of the same transaction, not by the call. Outside a transaction the write is sent
at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    BooleanField,
    CharField,
    Field,
    ForeignKey,
    IntegerField,
    Model,
    TextField,
)
from django.db.models.fields import AutoFieldMixin
from django.db.models.signals import post_save, pre_save

from kassa.platform.db.postgresql.base import DatabaseWrapper as PostgresWrapper


def active() -> bool:
    """Whether the fast path serves the default database: Kassa's PostgreSQL backend with
    `KASSA_DB_FASTPATH` on. Repositories use fastdb when it does and the ORM when it does not."""
    return getattr(connections[DEFAULT_DB_ALIAS], "kassa_fastpath", False) is True


def _fast() -> PostgresWrapper:
    conn = connections[DEFAULT_DB_ALIAS]
    if not (isinstance(conn, PostgresWrapper) and conn.kassa_fastpath):
        raise RuntimeError(
            "kassa.platform.fastdb is the PostgreSQL fast path and it is not active here "
            "(SQLite, or KASSA_DB_FASTPATH=0): repositories use the ORM then"
        )
    return conn


# Fields whose get_db_prep_save hands a value of this exact type (or None) over unchanged;
# such values skip the call (a tenth of a hot insert's CPU), anything else goes through it.
_PLAIN_KINDS: tuple[tuple[type[Field[Any, Any]], type], ...] = (
    (BooleanField, bool),
    (IntegerField, int),
    (CharField, str),
    (TextField, str),
)
_PREP_METHODS = ("get_prep_value", "get_db_prep_value", "get_db_prep_save")


def _plain_type(field: Any) -> type | None:
    if isinstance(field, ForeignKey):
        return _plain_type(field.target_field)
    for base, kind in _PLAIN_KINDS:
        if isinstance(field, base) and all(
            getattr(type(field), name) is getattr(base, name) for name in _PREP_METHODS
        ):
            return kind
    return None


class _Plan:
    """What a model's statements need, worked out once per model and database vendor."""

    def __init__(self, model: type[Model], conn: BaseDatabaseWrapper) -> None:
        meta = model._meta
        quote = conn.ops.quote_name
        self.fields: list[Any] = list(meta.concrete_fields)
        self.attnames = [f.attname for f in self.fields]
        self.columns = ", ".join(quote(f.column) for f in self.fields)
        self.table = quote(meta.db_table)
        self.plain = {f.attname: _plain_type(f) for f in self.fields}
        self.converters: list[tuple[int, list[tuple[Callable[..., Any], Any]]]] = []
        for index, field in enumerate(self.fields):
            column = field.get_col(meta.db_table)
            funcs = conn.ops.get_db_converters(column) + field.get_db_converters(conn)
            if funcs:
                self.converters.append((index, [(func, column) for func in funcs]))
        pk = meta.pk
        assert pk is not None
        self.pk = pk
        self.pk_column = quote(str(pk.column))
        self.auto = isinstance(pk, AutoFieldMixin)
        self.insert_fields = [f for f in self.fields if not (self.auto and f is pk)]
        self.selects: dict[tuple[Any, ...], str] = {}
        self.inserts: dict[bool, str] = {}
        self.updates: dict[tuple[str, ...], tuple[str, list[Any]]] = {}


_plans: dict[tuple[type[Model], str], _Plan] = {}


def _plan(model: type[Model], conn: BaseDatabaseWrapper) -> _Plan:
    found = _plans.get((model, conn.vendor))
    if found is None:
        found = _plans[(model, conn.vendor)] = _Plan(model, conn)
    return found


def _prepare(plan: _Plan, field: Any, value: Any, conn: BaseDatabaseWrapper) -> Any:
    if value is None or type(value) is plan.plain[field.attname]:
        return value
    return field.get_db_prep_save(value, conn)


def _execute(
    conn: PostgresWrapper,
    statement: str,
    params: Sequence[Any],
    *,
    fetch: bool,
    many: bool = False,
) -> Any:
    """Run one statement; with `fetch` the first row (or with `many` all of them). Any deferred
    writes go first, in the same round trip (kassa.platform.pgwire)."""
    rows = conn.run_batch([(statement, params, fetch)])[0]
    if not fetch:
        return None
    assert rows is not None
    return rows if many else (rows[0] if rows else None)


def _deferred(conn: PostgresWrapper, statement: str, params: list[Any]) -> bool:
    """Queue a write for the next statement or the COMMIT (see `Deferred writes` above);
    False (nothing queued) outside a transaction."""
    if conn.in_atomic_block:
        conn.queue_deferred(statement, params)
        return True
    return False


def execute(statement: str, params: Sequence[Any], *, defer: bool = False) -> None:
    """Run a statement whose result is not needed (deferred with `defer`)."""
    conn = _fast()
    if not (defer and _deferred(conn, statement, list(params))):
        _execute(conn, statement, params, fetch=False)


@dataclass(frozen=True)
class Query[M: Model]:
    """A `select` to run with others in one round trip (`select_together`)."""

    model: type[M]
    where: str
    params: Sequence[Any]
    lock: bool = False
    annotations: Sequence[tuple[str, str]] = ()
    limit: int | None = None


def select[M: Model](
    model: type[M],
    where: str,
    params: Sequence[Any],
    *,
    lock: bool = False,
    annotations: Sequence[tuple[str, str]] = (),
    limit: int | None = None,
) -> list[M]:
    """The rows of `model` matching `where` (SQL over its columns, `%s` placeholders). `lock`
    adds FOR UPDATE. `annotations` are (attribute, SQL expression) pairs selected too and set
    on each instance; their placeholders come before those of `where` in `params`."""
    return _select(_fast(), Query(model, where, params, lock, annotations, limit))


def _select[M: Model](conn: PostgresWrapper, query: Query[M]) -> list[M]:
    statement = _select_statement(conn, query)
    rows = _execute(conn, statement, list(query.params), fetch=True, many=True)
    return _instances(conn, query, rows)


def select_together(*queries: Query[Any]) -> list[list[Any]]:
    """Several selects in one round trip (in order: their row locks are taken in the order
    given); the rows of each."""
    conn = _fast()
    results = conn.run_batch([(_select_statement(conn, q), list(q.params), True) for q in queries])
    return [_instances(conn, q, rows) for q, rows in zip(queries, results, strict=True)]


def _select_statement(conn: BaseDatabaseWrapper, query: Query[Any]) -> str:
    plan = _plan(query.model, conn)
    lock = query.lock and conn.features.has_select_for_update
    key = (query.where, lock, tuple(query.annotations), query.limit)
    statement = plan.selects.get(key)
    if statement is None:
        quote = conn.ops.quote_name
        extra = "".join(f", {sql} AS {quote(name)}" for name, sql in query.annotations)
        statement = f"SELECT {plan.columns}{extra} FROM {plan.table} WHERE {query.where}"  # noqa: S608 (columns from _meta)
        if query.limit is not None:
            statement += f" LIMIT {int(query.limit)}"
        if lock:
            statement += " FOR UPDATE"
        plan.selects[key] = statement
    return statement


def _instances[M: Model](conn: BaseDatabaseWrapper, query: Query[M], rows: Any) -> list[M]:
    plan = _plan(query.model, conn)
    found = []
    width = len(plan.fields)
    for row in rows or ():
        values = list(row[:width])
        for index, funcs in plan.converters:
            for func, column in funcs:
                values[index] = func(values[index], column, conn)
        instance = query.model.from_db(conn.alias, plan.attnames, values)
        for (name, _), value in zip(query.annotations, row[width:], strict=True):
            setattr(instance, name, value)
        found.append(instance)
    return found


def get[M: Model](
    model: type[M],
    where: str,
    params: Sequence[Any],
    *,
    lock: bool = False,
    annotations: Sequence[tuple[str, str]] = (),
) -> M | None:
    """The first row of `select(...)`, or None."""
    rows = select(model, where, params, lock=lock, annotations=annotations, limit=1)
    return rows[0] if rows else None


def _send_pre_save(instance: Model, alias: str, update_fields: frozenset[str] | None) -> None:
    model = type(instance)
    if pre_save.has_listeners(model):
        pre_save.send(
            sender=model, instance=instance, raw=False, using=alias, update_fields=update_fields
        )


def _send_post_save(
    instance: Model, alias: str, created: bool, update_fields: frozenset[str] | None
) -> None:
    model = type(instance)
    if post_save.has_listeners(model):
        post_save.send(
            sender=model,
            instance=instance,
            created=created,
            update_fields=update_fields,
            raw=False,
            using=alias,
        )


def insert(instance: Model, *, skip_conflicts: bool = False, defer: bool = False) -> bool:
    """INSERT every concrete field of a new instance. Kassa's prefixed ids are minted in
    Python; an auto-increment key is left to the database and read back. With
    `skip_conflicts` a row that violates a unique constraint is not inserted (ON CONFLICT DO
    NOTHING, no error, so no savepoint is needed) and False is returned. With `defer` the
    INSERT is a deferred write (module docstring) when it can be: inside a transaction on
    PostgreSQL, for a row whose key is minted in Python."""
    model = type(instance)
    conn = _fast()
    plan = _plan(model, conn)
    _send_pre_save(instance, conn.alias, None)
    statement = plan.inserts.get(skip_conflicts)
    if statement is None:
        columns = ", ".join(conn.ops.quote_name(f.column) for f in plan.insert_fields)
        marks = ", ".join(["%s"] * len(plan.insert_fields))
        statement = f"INSERT INTO {plan.table} ({columns}) VALUES ({marks})"  # noqa: S608
        if skip_conflicts:
            statement += " ON CONFLICT DO NOTHING"
        if plan.auto or skip_conflicts:
            statement += f" RETURNING {plan.pk_column}"
        plan.inserts[skip_conflicts] = statement
    if instance.pk is None and not plan.auto:
        raise ValueError(f"{model.__name__} needs its primary key set before insert()")
    values = [_prepare(plan, f, f.pre_save(instance, True), conn) for f in plan.insert_fields]
    fetch = plan.auto or skip_conflicts
    if not (defer and not fetch and _deferred(conn, statement, values)):
        returned = _execute(conn, statement, values, fetch=fetch)
        if fetch and returned is None:
            return False
    if plan.auto:
        assert returned is not None
        instance.pk = returned[0]
    instance._state.adding = False
    instance._state.db = conn.alias
    _send_post_save(instance, conn.alias, True, None)
    return True


def update(instance: Model, fields: Sequence[str], *, defer: bool = False) -> None:
    """UPDATE the named fields (attribute names) of a saved instance from its values (a
    deferred write with `defer`, inside a transaction on PostgreSQL)."""
    model = type(instance)
    conn = _fast()
    plan = _plan(model, conn)
    names = tuple(fields)
    _send_pre_save(instance, conn.alias, frozenset(names))
    prepared = plan.updates.get(names)
    if prepared is None:
        chosen: list[Any] = []
        for name in names:
            field = model._meta.get_field(name)
            assert isinstance(field, Field)
            chosen.append(field)
        quote = conn.ops.quote_name
        assignments = ", ".join(f"{quote(str(f.column))} = %s" for f in chosen)
        statement = f"UPDATE {plan.table} SET {assignments} WHERE {plan.pk_column} = %s"  # noqa: S608
        prepared = plan.updates[names] = (statement, chosen)
    statement, chosen = prepared
    values = [_prepare(plan, f, f.pre_save(instance, False), conn) for f in chosen]
    values.append(plan.pk.get_db_prep_value(instance.pk, conn))
    if not (defer and _deferred(conn, statement, values)):
        _execute(conn, statement, values, fetch=False)
    _send_post_save(instance, conn.alias, False, frozenset(names))
