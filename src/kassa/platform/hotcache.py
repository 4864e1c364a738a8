"""In-process caches for the few lookups every request makes and that rarely change: the API
key (with its organization), an organization's gateway accounts, its webhook endpoints.

Each lookup is one query that costs more than the rest of a small request; caching them is
most of what lets one web process answer hundreds of payments a second (docs/benchmarks.md).
A cached value must never be used long after it changed, so:
- every write to a cached kind of row calls `changed(name)` inside its transaction: model
  signals do it for every save and delete, and the model's `ClearingQuerySet` for the writes
  that send no signals (`QuerySet.update()`, `bulk_create`, `bulk_update`); this process drops
  the cache at once and again after the commit;
- on PostgreSQL `changed` also sends `NOTIFY kassa_cache` in the transaction, and every Kassa
  process LISTENs on one connection (a daemon thread) and drops the named cache when the
  commit is delivered, within milliseconds;
- whatever happens to that connection, no entry lives longer than `KASSA_CACHE_SECONDS`
  (default 5); while the listener is down or reconnecting, the caches are bypassed entirely.
SQLite deployments are one web process; its worker and scheduler rely on the time limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Model, QuerySet

from kassa.platform import pg

logger = logging.getLogger("kassa.platform.hotcache")

CHANNEL = "kassa_cache"
_MAX_ENTRIES = 10_000

_caches: dict[str, HotCache[Any, Any]] = {}


class HotCache[K: Hashable, V]:
    """A dict of values that expire after `KASSA_CACHE_SECONDS`; misses are not cached."""

    def __init__(self, name: str) -> None:
        if name in _caches:
            raise ValueError(f"a hot cache named {name!r} exists already")
        self.name = name
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()
        _caches[name] = self

    def get(self, key: K, load: Callable[[], V | None]) -> V | None:
        if not _usable():
            return load()
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        generation = _generation
        value = load()
        if value is not None:
            with self._lock:
                # A change seen while loading may have made this value stale already.
                if generation == _generation:
                    if len(self._entries) >= _MAX_ENTRIES:
                        self._entries.clear()
                    self._entries[key] = (now + settings.KASSA_CACHE_SECONDS, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_generation = 0  # bumped on every clear, so a load that raced with a change is not stored
_generation_lock = threading.Lock()


def _clear(names: tuple[str, ...] | None) -> None:
    global _generation
    with _generation_lock:
        _generation += 1
    for name, cache in list(_caches.items()):
        if names is None or name in names:
            cache.clear()


# Models whose rows are cached -> the names of their caches (`clear_on_change`).
_model_caches: dict[type[Model], tuple[str, ...]] = {}


class ClearingQuerySet[M: Model](QuerySet[M]):
    """The queryset of a model whose rows are cached: its writes that send no model signals
    clear the model's caches too. A model passed to `clear_on_change` must use it
    (`objects = ClearingQuerySet.as_manager()`)."""

    def update(self, **kwargs: Any) -> int:
        rows = super().update(**kwargs)
        _changed_model(self.model)
        return rows

    def touch(self, **kwargs: Any) -> int:
        """An update of bookkeeping columns that nothing read from a cache depends on (an API
        key's `last_used_at`), which leaves the caches alone: cleared, every cache of the kind
        would be emptied in every process each time one of its rows is touched."""
        return super().update(**kwargs)

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[M]:
        created = super().bulk_create(objs, *args, **kwargs)
        _changed_model(self.model)
        return created

    def delete(self) -> tuple[int, dict[str, int]]:
        deleted = super().delete()
        _changed_model(self.model)
        return deleted


def _changed_model(model: type[Model]) -> None:
    names = _model_caches.get(model)
    if names:
        changed(*names)


def clear_on_change(model: type[Model], *names: str) -> None:
    """Every write to `model` rows changes the named caches: saves and deletes through model
    signals, bulk writes through the model's `ClearingQuerySet`."""
    from django.db.models.signals import post_delete, post_save

    if not isinstance(model._default_manager.all(), ClearingQuerySet):
        raise ImproperlyConfigured(
            f"{model.__name__} is cached: its manager must be ClearingQuerySet.as_manager(), "
            "so that QuerySet.update() clears the cache too"
        )
    _model_caches[model] = tuple(dict.fromkeys((*_model_caches.get(model, ()), *names)))

    def receiver(**kwargs: Any) -> None:
        changed(*names)

    uid = f"kassa.hotcache:{model._meta.label}:{','.join(names)}"
    post_save.connect(receiver, sender=model, weak=False, dispatch_uid=uid + ":save")
    post_delete.connect(receiver, sender=model, weak=False, dispatch_uid=uid + ":delete")


def changed(*names: str) -> None:
    """Rows behind these caches are being changed in the current transaction (or just were).
    A name whose cache was never created (its module not imported) has nothing to clear."""
    _clear(names)
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _clear(names))
    pg.notify(CHANNEL, ",".join(names))  # (nothing on SQLite)


# -- the listener ---------------------------------------------------------------------------

_listener_lock = threading.Lock()
_listener: _Listener | None = None


def _usable() -> bool:
    """Caches are used on SQLite always, on PostgreSQL only while this process listens."""
    if not settings.KASSA_CACHE_SECONDS:
        return False
    if connection.vendor != "postgresql":
        return True
    listener = _listener
    if listener is None:
        start_listener()
        return False
    return listener.listening and listener.is_alive()


class _Listener(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="kassa-cache-listener", daemon=True)
        self.listening = False
        self.stopping = threading.Event()
        self.connection: Any = None

    def run(self) -> None:
        import psycopg

        from kassa.platform.dbinfo import listener_conninfo

        delay = 0.5
        while not self.stopping.is_set():
            try:
                with psycopg.connect(
                    autocommit=True, **listener_conninfo("kassa-cache-listener")
                ) as conn:
                    self.connection = conn
                    conn.execute(f"LISTEN {CHANNEL}")
                    _clear(None)  # anything could have changed while nobody listened
                    self.listening = True
                    delay = 0.5
                    while not self.stopping.is_set():
                        for notify in conn.notifies(timeout=1.0):
                            if notify.payload.startswith(_SYNC):
                                _synced(notify.payload)
                            else:
                                _clear(tuple(notify.payload.split(",")))
            except Exception as exc:  # any failure: stop trusting the caches, then retry
                if self.stopping.is_set():
                    break
                logger.warning("cache listener reconnecting: %s", exc)
            finally:
                self.listening = False
                self.connection = None
                _clear(None)
            self.stopping.wait(delay)
            delay = min(delay * 2, 10.0)


def start_listener() -> None:
    global _listener
    with _listener_lock:
        if _listener is None or not _listener.is_alive():
            _listener = _Listener()
            _listener.start()


def wait_listening(timeout: float = 10.0) -> bool:
    """Start the listener if needed and wait until it listens (tests, start-up)."""
    start_listener()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listener = _listener
        if listener is not None and listener.listening:
            return True
        time.sleep(0.01)
    return False


_SYNC = "sync:"
_sync_waiters: dict[str, threading.Event] = {}


def _synced(payload: str) -> None:
    waiter = _sync_waiters.get(payload)
    if waiter is not None:
        waiter.set()


def wait_for_notifications(timeout: float = 10.0) -> bool:
    """PostgreSQL: wait until this process's listener has handled every change notified so
    far (NOTIFYs arrive in order, so a marker sent now comes after them). Tests use it to start
    from settled caches."""
    if connection.vendor != "postgresql":
        return True
    if not wait_listening(timeout):
        return False
    import secrets

    payload = _SYNC + secrets.token_hex(8)
    waiter = _sync_waiters[payload] = threading.Event()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, payload])
        return waiter.wait(timeout)
    finally:
        _sync_waiters.pop(payload, None)


def stop_listener() -> None:
    """Close the listening connection (before a test database is dropped)."""
    global _listener
    with _listener_lock:
        listener, _listener = _listener, None
    if listener is not None:
        listener.stopping.set()
        listener.join(5)
