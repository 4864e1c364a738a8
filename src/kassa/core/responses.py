"""The responses every API operation declares in the OpenAPI document.

Generated clients (and schemathesis, tests/api/test_schemathesis.py) only know the statuses an
operation declares, so each operation lists every one it can answer, through one of the
helpers below. They add what the API's plumbing can answer before or around any view:

- 400 `invalid_request_error`: a rule refused a value (`code` says which, `param` where), and
  a body that is not JSON;
- 401 no valid API key;
- 413 `request_too_large` (kassa.core.middleware: any request, before the body is read);
- 422 the request does not match the operation's schema;
- 500 `internal_error`: a bug; the request changed nothing;
- 503 `server_busy`: the web process shed the request before running it
  (kassa.platform.wsgi_bridge), to be retried after `Retry-After`;
- with a body (POST, PUT, DELETE): 415 `unsupported_media_type`, a body that is not JSON;
- POST: 409 `idempotency_key_in_use` (kassa.core.idempotency).

The operation adds its own: 404 when it names an object (a path id, an id in the body, a
`starting_after`), and its business refusals (402, 403, 409, 410, 502).
"""

from __future__ import annotations

from typing import Any

from kassa.core.schemas import ErrorOut

EVERY_OPERATION = (400, 401, 413, 422, 500, 503)
WITH_BODY = (415,)
POST_ONLY = (409,)


def _declare(ok: Any, ok_status: int, statuses: tuple[int, ...]) -> dict[int, Any]:
    declared: dict[int, Any] = {ok_status: ok}
    for status in sorted(set(statuses)):
        if status < 400:
            raise ValueError(f"{status} is not an error status")
        declared[status] = ErrorOut
    return declared


def for_get(ok: Any, *statuses: int) -> dict[int, Any]:
    """The responses of a GET answering `ok` (a schema, or None for a body the schema does
    not describe) with 200, and the error statuses `statuses` beside the common ones."""
    return _declare(ok, 200, EVERY_OPERATION + statuses)


def for_post(ok: Any, *statuses: int) -> dict[int, Any]:
    return _declare(ok, 200, EVERY_OPERATION + WITH_BODY + POST_ONLY + statuses)


def for_put(ok: Any, *statuses: int) -> dict[int, Any]:
    return _declare(ok, 200, EVERY_OPERATION + WITH_BODY + statuses)


def for_delete(ok: Any, *statuses: int, status: int = 200) -> dict[int, Any]:
    return _declare(ok, status, EVERY_OPERATION + WITH_BODY + statuses)


def required_statuses(method: str) -> set[int]:
    """What every operation with this HTTP method must declare (the OpenAPI test checks it)."""
    method = method.upper()
    required = set(EVERY_OPERATION)
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        required |= set(WITH_BODY)
    if method == "POST":
        required |= set(POST_ONLY)
    return required
