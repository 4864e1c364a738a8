"""Django's ASGI handler with its middleware and views run as one synchronous chain.

Django's own handler runs the middleware chain in async mode: every `MiddlewareMixin` hook and
every sync-only middleware is adapted with `sync_to_async`/`async_to_sync`, about twenty thread
switches for one request, which cost more than most of our views (docs/benchmarks.md). Kassa's
middleware and views are synchronous, so the whole chain is built in sync mode and entered
with a single `sync_to_async` (in the request's thread-sensitive context, like Django's own
calls). Async views still work: Django adapts them inside the sync chain.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class SyncChainASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)  # type: ignore[has-type]
