"""The error taxonomy.

One base class; each leaf is named for the condition and carries its HTTP status, a stable
`type` and `code`, and optionally the request parameter at fault. The API renders every
`KassaError` as `{"error": {"type", "code", "message", "param"}}`; gateway endpoints map
them to their own protocols.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

from django.utils import translation


@runtime_checkable
class Localizable(Protocol):
    """A message parameter that shows itself in the reader's locale (`core.money.Money`)."""

    def localized(self, locale: str) -> str: ...


def _fill(template: str, params: Mapping[str, Any], locale: str) -> str:
    if not params:
        return template
    return template % {
        name: value.localized(locale) if isinstance(value, Localizable) else value
        for name, value in params.items()
    }


class KassaError(Exception):
    """`message` is English, for the API; `localized()` is the same message in the active
    language, for pages. A message with `params` is a `%(name)s` template whose English text
    is also its msgid, so the page shows it translated, with amounts in the page's format."""

    status: ClassVar[int] = 400
    type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str] = "invalid_request"
    default_message: ClassVar[str] = "The request is invalid."

    def __init__(
        self,
        message: str | None = None,
        *,
        param: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.template = message or self.default_message
        self.params = dict(params or {})
        self.message = _fill(self.template, self.params, "en")
        self.param = param
        super().__init__(self.message)

    def localized(self) -> str:
        """The message in the active language (the English text when it has no translation)."""
        language = (translation.get_language() or "en").split("-")[0]
        return _fill(translation.gettext(str(self.template)), self.params, language)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "param": self.param,
        }


class InvalidRequest(KassaError):
    pass


class ValidationFailed(InvalidRequest):
    """The request does not match the schema (the only use of 422)."""

    status = 422
    code = "validation_error"


class InvalidCharacters(ValidationFailed):
    """Text holding NUL or a lone UTF-16 surrogate: neither can be stored (PostgreSQL refuses
    NUL in text, and a lone surrogate has no UTF-8 form), so both are refused everywhere."""

    code = "invalid_characters"
    default_message = "Text may not contain NUL characters or lone surrogates."


class DateOutOfRange(ValidationFailed):
    code = "date_out_of_range"
    default_message = "Dates lie between 1970-01-01 and 2100-12-31."


class ParameterOutOfRange(ValidationFailed):
    code = "parameter_out_of_range"
    default_message = "A number is out of range."


class UnsupportedMediaType(KassaError):
    status = 415
    code = "unsupported_media_type"
    default_message = "Send the request body as JSON with Content-Type: application/json."


class InvalidJson(KassaError):
    code = "invalid_json"
    default_message = "The request body is not valid JSON."


class JsonObjectRequired(KassaError):
    code = "json_object_required"
    default_message = "The request body must be a JSON object."


class ResourceMissing(KassaError):
    status = 404
    code = "resource_missing"
    default_message = "No such object."


class AuthenticationFailed(KassaError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"
    default_message = "Invalid API key provided."


class PermissionDenied(KassaError):
    status = 403
    type = "permission_error"
    code = "permission_denied"
    default_message = "This key may not perform this request."


class LiveModeNotAllowed(PermissionDenied):
    code = "livemode_not_allowed"
    default_message = "This request is only available with a test-mode API key."


class IdempotencyKeyReused(KassaError):
    type = "idempotency_error"
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used with a different request body or path."


class IdempotencyKeyInUse(KassaError):
    status = 409
    type = "idempotency_error"
    code = "idempotency_key_in_use"
    default_message = "A request with this Idempotency-Key is still being processed; retry shortly."


class RequestTooLarge(KassaError):
    status = 413
    code = "request_too_large"
    default_message = "The request body is too large."


class StateConflict(KassaError):
    """The object is in a state that does not allow the requested change."""

    status = 409
    code = "invalid_state"
    default_message = "The object is not in a state that allows this request."


class ApiError(KassaError):
    status = 500
    type = "api_error"
    code = "internal_error"
    default_message = "An internal error occurred; the request changed nothing."


class InvalidStartingAfter(InvalidRequest):
    """A list's `starting_after` that is not an id of the objects listed (another prefix)."""

    code = "invalid_starting_after"
    default_message = "starting_after must be the id of an object in this list."
