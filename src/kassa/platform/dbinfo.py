"""Connection parameters for the long-lived PostgreSQL connections that LISTEN (the cache
invalidation listener, the live balance hub): Django's own settings, outside its pool; and a
quick check that the database can be reached at all."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def listener_conninfo(application_name: str) -> dict[str, Any]:
    db = settings.DATABASES["default"]
    params: dict[str, Any] = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "connect_timeout": 5,
        "application_name": application_name,
    }
    for key, value in (db.get("OPTIONS") or {}).items():
        if key not in {"pool", "connect_timeout"} and isinstance(value, str):
            params[key] = value
    return {k: v for k, v in params.items() if v is not None}


def check_reachable() -> None:
    """Raise Django's OperationalError (with psycopg's message) when the configured PostgreSQL
    cannot be reached within five seconds; nothing on SQLite."""
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        return
    import psycopg
    from django.db.utils import OperationalError

    try:
        psycopg.connect(**listener_conninfo("kassa-check")).close()
    except psycopg.Error as exc:
        raise OperationalError(str(exc)) from None


def ping() -> None:
    """One round trip to the default database (raises Django's errors when it is not there):
    the readiness probe's check."""
    from django.db import DEFAULT_DB_ALIAS, connections

    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
