"""The per-process hub that fans balance changes out to the SSE streams this process holds.

One hub lives on each server process's event loop. Streams subscribe to one wallet and wait on
their subscription; the hub hands every `BalanceEvent` for that wallet to each subscription.
A subscription keeps only the newest event it has not yet sent (a balance is a state, so an
older undelivered one is worth nothing once a newer exists): a slow stream therefore never
makes memory grow, and a stuck one is dropped by the stream when its write times out.

Where events come from:
- the same process: `publish_local` (called from the `balance_changed` receiver, in whatever
  thread committed the change) hands the event to every hub through `call_soon_threadsafe`;
- other processes, on PostgreSQL: the hub keeps ONE listening connection (`LISTEN
  kassa_wallet_balance`) and dispatches every notification. When that connection is lost and
  re-established, notifications may have been missed, so every subscription is told to
  resynchronise (the stream then reads the current state from the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

logger = logging.getLogger("kassa.wallets.stream")

CHANNEL = "kassa_wallet_balance"


@dataclass(frozen=True)
class BalanceEvent:
    wallet_id: str
    organization_id: str
    balance: int
    currency: str
    sequence: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @cached_property
    def sse(self) -> bytes:
        """The event as sent on a stream (its id is the sequence)."""
        data = {
            "object": "wallet.balance",
            "wallet": self.wallet_id,
            "balance": self.balance,
            "currency": self.currency,
            "sequence": self.sequence,
        }
        return f"id: {self.sequence}\nevent: balance\ndata: {json.dumps(data)}\n\n".encode()

    @classmethod
    def from_json(cls, raw: str) -> BalanceEvent:
        data = json.loads(raw)
        return cls(
            wallet_id=str(data["wallet_id"]),
            organization_id=str(data["organization_id"]),
            balance=int(data["balance"]),
            currency=str(data["currency"]),
            sequence=int(data["sequence"]),
        )


class Subscription:
    """One stream's interest in one wallet. Only the hub's event loop touches it."""

    __slots__ = ("_hub", "_pending", "_ready", "_resync", "closed", "gone", "wallet_id")

    def __init__(self, hub: Hub, wallet_id: str) -> None:
        self._hub = hub
        self.wallet_id = wallet_id
        self._pending: BalanceEvent | None = None
        self._resync = False
        self._ready = asyncio.Event()
        self.closed = False
        # The client went away: the stream wakes up and ends.
        self.gone = False

    def offer(self, event: BalanceEvent) -> None:
        if self._pending is None or event.sequence > self._pending.sequence:
            self._pending = event
        self._ready.set()

    def mark_gone(self) -> None:
        self.gone = True
        self._ready.set()

    def request_resync(self) -> None:
        self._resync = True
        self._ready.set()

    async def wait(self, timeout: float) -> tuple[BalanceEvent | None, bool]:
        """Wait up to `timeout` seconds: (newest pending event or None, resync requested).
        Returns (None, False) on timeout, which the stream turns into a heartbeat."""
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None, False
        self._ready.clear()
        event, resync = self._pending, self._resync
        self._pending, self._resync = None, False
        return event, resync

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._hub._remove(self)


ListenerFactory = Callable[["Hub"], Coroutine[Any, Any, None]]


class Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop, listener: ListenerFactory | None) -> None:
        self.loop = loop
        self._by_wallet: dict[str, set[Subscription]] = {}
        self.connections = 0
        self.listening = asyncio.Event()
        self._listener = listener
        self._listener_task: asyncio.Task[None] | None = None
        if listener is None:
            self.listening.set()

    # -- subscriptions (event loop only) ------------------------------------------------------

    def subscribe(self, wallet_id: str) -> Subscription:
        self._ensure_listener()
        sub = Subscription(self, wallet_id)
        self._by_wallet.setdefault(wallet_id, set()).add(sub)
        self.connections += 1
        return sub

    def _remove(self, sub: Subscription) -> None:
        subs = self._by_wallet.get(sub.wallet_id)
        if subs is not None and sub in subs:
            subs.discard(sub)
            self.connections -= 1
            if not subs:
                del self._by_wallet[sub.wallet_id]

    def subscribed_wallets(self) -> list[str]:
        return list(self._by_wallet)

    def dispatch(self, event: BalanceEvent) -> None:
        for sub in self._by_wallet.get(event.wallet_id, ()):
            sub.offer(event)

    def resync_all(self) -> None:
        for subs in self._by_wallet.values():
            for sub in subs:
                sub.request_resync()

    async def wait_listening(self, timeout: float) -> bool:
        """True once the cross-process listener is receiving (always on SQLite)."""
        self._ensure_listener()
        if self.listening.is_set():
            return True
        try:
            await asyncio.wait_for(self.listening.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- the cross-process listener ------------------------------------------------------------

    def _ensure_listener(self) -> None:
        if self._listener is None:
            return
        if self._listener_task is None or self._listener_task.done():
            self._listener_task = self.loop.create_task(self._listener(self))

    async def close(self) -> None:
        task, self._listener_task = self._listener_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# -- one hub per event loop -------------------------------------------------------------------

_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()
_hubs_lock = threading.Lock()


def get_hub(listener: ListenerFactory | None = None) -> Hub:
    """The hub of the running event loop, created on first use."""
    loop = asyncio.get_running_loop()
    with _hubs_lock:
        hub = _hubs.get(loop)
        if hub is None:
            hub = Hub(loop, listener)
            _hubs[loop] = hub
    return hub


def publish_local(event: BalanceEvent) -> None:
    """Hand an event to every hub in this process; safe from any thread."""
    with _hubs_lock:
        hubs = list(_hubs.values())
    for hub in hubs:
        if hub.loop.is_closed():
            continue
        try:
            hub.loop.call_soon_threadsafe(hub.dispatch, event)
        except RuntimeError:  # the loop closed between the check and the call
            continue


def dispatch_notification(hub: Hub, payload: str) -> None:
    try:
        event = BalanceEvent.from_json(payload)
    except (ValueError, KeyError, TypeError):
        logger.warning("ignoring a malformed balance notification", extra={"payload": payload})
        return
    hub.dispatch(event)
