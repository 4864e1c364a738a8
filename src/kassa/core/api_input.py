"""What the REST API accepts before any schema sees it (decision 036).

A body is JSON, sent as `application/json` (or a `+json` type), and its top level is an object;
anything else is refused (415 `unsupported_media_type`, 400 `invalid_json` with the position of
the fault, 400 `json_object_required`). The path and the query string may not hold NUL or lone
surrogates (422 `invalid_characters`). `InputMiddleware` applies this to every request under
/v1/ (so an endpoint without a body schema cannot forget it), and the text rule to the pages'
paths, queries and forms, and keeps the parsed body, which
the API's parser and the idempotency fingerprint reuse rather than parse it again.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.utils.deprecation import MiddlewareMixin
from ninja.parser import Parser

from kassa.core.errors import (
    InvalidJson,
    JsonObjectRequired,
    KassaError,
    UnsupportedMediaType,
)
from kassa.core.validation import refuse_unstorable, unstorable_path

_PARSED = "_kassa_json_body"
_UNSET = object()
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def error_response(error: KassaError) -> HttpResponse:
    return HttpResponse(
        json.dumps({"error": error.as_dict()}),
        status=error.status,
        content_type="application/json",
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# One decoder for every request (json.loads with options builds a new one each call).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
# In valid JSON, NUL and lone surrogates can only arrive as \u escapes, and an integer beyond
# 10**15 as a run of 16 digits. A body without either cannot break the schema layer's rules,
# which then skips walking it (`InputSchema`); one with either (or an escaped backslash that
# merely looks like one) is walked.
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|[0-9]{16}")
SUSPECT_ATTRIBUTE = "_kassa_json_suspect"


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


def json_object(request: HttpRequest) -> dict[str, Any] | None:
    """The request's body as a JSON object, or None when there is no body. Raises KassaError."""
    cached = getattr(request, _PARSED, _UNSET)
    if cached is not _UNSET:
        return cast("dict[str, Any] | None", cached)
    body = request.body
    result: dict[str, Any] | None = None
    if body:
        if not _is_json(request.content_type or ""):
            raise UnsupportedMediaType(
                f"The body was sent as {request.content_type or 'no content type'!r}; send it "
                "as JSON with Content-Type: application/json."
            )
        try:
            # RFC 8259 §8.1: JSON between systems is UTF-8 (strictly: no encoded surrogates).
            parsed = _DECODER.decode(body.decode("utf-8"))
        except json.JSONDecodeError as exc:
            raise InvalidJson(
                f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, column "
                f"{exc.colno} (character {exc.pos})."
            ) from None
        except UnicodeDecodeError as exc:
            raise InvalidJson(
                f"The body is not UTF-8 (byte {exc.start}); JSON is sent as UTF-8."
            ) from None
        except ValueError as exc:
            raise InvalidJson(f"The body is not valid JSON: {exc}.") from None
        if not isinstance(parsed, dict):
            raise JsonObjectRequired(
                f"The body must be a JSON object ({{...}}), not {type(parsed).__name__}."
            )
        result = parsed
        setattr(request, SUSPECT_ATTRIBUTE, _SUSPECT.search(body) is not None)
    setattr(request, _PARSED, result)
    return result


def refuse_unstorable_query(request: HttpRequest) -> None:
    if not request.META.get("QUERY_STRING"):
        return
    for key, values in request.GET.lists():
        refuse_unstorable(key, "query")
        for value in values:
            refuse_unstorable(value, key)


_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class InputMiddleware(MiddlewareMixin):
    """The API's rules above; for pages, the same text rule on the path (404), the query and
    posted form fields (400). Gateway hooks answer bad bodies in their own protocol."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        # A cookie is only ever looked up; one that could not be stored matches nothing.
        if "HTTP_COOKIE" in request.META:
            for name, value in list(request.COOKIES.items()):
                if unstorable_path([name, value], "cookie") is not None:
                    del request.COOKIES[name]
        if request.path.startswith("/v1/"):
            try:
                refuse_unstorable(request.path, "path")
                refuse_unstorable_query(request)
                if request.method in _BODY_METHODS:
                    json_object(request)
            except KassaError as error:
                return error_response(error)
            return None
        if unstorable_path(request.path, "path") is not None:
            return HttpResponseNotFound("Not found.", content_type="text/plain")
        try:
            refuse_unstorable_query(request)
            if (
                request.method == "POST"
                and request.content_type in _FORM_TYPES
                and not request.path.startswith("/hooks/")
            ):
                refuse_unstorable(dict(request.POST.lists()), "")
        except KassaError as error:
            return HttpResponseBadRequest(error.message, content_type="text/plain")
        return None


class StrictParser(Parser):
    """django-ninja's parser on the rules above (its own treats `[]` as an empty object). The
    query's text was checked by the middleware already."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        return json_object(request) or {}
