"""LISTEN for PostgreSQL notifications on one connection of the process's own, for as long as
the process runs: reconnecting with a growing pause after any failure, and saying when it
listens and when it stops (notifications sent while nobody listened are lost, so the caller
resynchronises when it listens again)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from django.conf import settings

from kassa.platform.dbinfo import listener_conninfo

logger = logging.getLogger("kassa.platform.listen")

RECONNECT_MAX_SECONDS = 10.0


def available() -> bool:
    """Whether the database can notify other processes (PostgreSQL); elsewhere callers poll."""
    return str(settings.DATABASES["default"]["ENGINE"]).endswith("postgresql")


async def listen_forever(
    channel: str,
    *,
    application_name: str,
    on_notify: Callable[[str], None],
    on_listening: Callable[[], None],
    on_lost: Callable[[], None],
) -> None:
    """Call `on_notify(payload)` for every notification on `channel`; `on_listening()` each
    time LISTEN takes effect, `on_lost()` each time the connection is lost. Returns only by
    cancellation."""
    import psycopg

    delay = 0.25
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(
                autocommit=True, **listener_conninfo(application_name)
            )
            async with conn:
                await conn.execute(f"LISTEN {channel}")
                on_listening()
                delay = 0.25
                async for note in conn.notifies():
                    on_notify(note.payload)
        except asyncio.CancelledError:
            on_lost()
            raise
        except Exception as exc:
            on_lost()
            logger.warning(
                "listener connection lost; reconnecting",
                extra={"channel": channel, "error": str(exc), "retry_in": delay},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)
