"""`Idempotency-Key` for every POST under /v1/.

The first request with a key claims it (a row committed before the view runs). When the view
answers, the response is stored and every later request with the same key and the same body
gets that response again with `Idempotent-Replayed: true`. The same key with another body or
path is a 400 `idempotency_key_reused`; a key whose first request is still running is a 409
`idempotency_key_in_use`. Keys live 24 hours and are pruned by a periodic job.

Responses that changed nothing are not stored, so the client can retry them: 401, 422, 429
and every 5xx (our services roll back on error). A claim whose request died (a crashed
process) is taken over once its 60-second lease runs out.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import timezone
from django.utils.deprecation import MiddlewareMixin

from kassa.core import repository
from kassa.core.api_input import error_response, json_object
from kassa.core.auth import bearer_token
from kassa.core.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidRequest, KassaError
from kassa.core.models import IdempotencyRecord
from kassa.core.services import authenticate_api_key

KEY_TTL = timedelta(hours=24)
LEASE = timedelta(seconds=60)
_NOT_STORED = {401, 422, 429}


class IdempotencyMiddleware(MiddlewareMixin):
    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if request.method != "POST" or not request.path.startswith("/v1/"):
            return None
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return None
        key = key.strip()
        if not key or len(key) > 255:
            return error_response(
                InvalidRequest(
                    "Idempotency-Key must be 1 to 255 characters.", param="Idempotency-Key"
                )
            )
        token = bearer_token(request)
        api_key = authenticate_api_key(token) if token else None
        if api_key is None:
            return None  # the API answers 401 itself
        request.kassa_api_key = api_key  # type: ignore[attr-defined]
        fingerprint = hashlib.sha256(
            request.path.encode() + b"\n" + _canonical(request)
        ).hexdigest()
        return self._claim(request, api_key.organization_id, key, fingerprint)

    def _claim(
        self, request: HttpRequest, organization_id: str, key: str, fingerprint: str
    ) -> HttpResponse | None:
        now = timezone.now()
        record = IdempotencyRecord(
            organization_id=organization_id,
            key=key,
            fingerprint=fingerprint,
            status=IdempotencyRecord.Status.IN_PROGRESS,
            locked_until=now + LEASE,
            expires_at=now + KEY_TTL,
        )
        # One statement, committed on its own (autocommit) before the view runs.
        if repository.claim_key(record):
            request.kassa_idempotency = record  # type: ignore[attr-defined]
            return None

        found = IdempotencyRecord.objects.filter(organization_id=organization_id, key=key).first()
        if found is None or found.expires_at <= now:
            # Expired but not yet pruned (or pruned just now): start afresh.
            IdempotencyRecord.objects.filter(
                organization_id=organization_id, key=key, expires_at__lte=now
            ).delete()
            return self._claim(request, organization_id, key, fingerprint)
        record = found
        if record.fingerprint != fingerprint:
            return error_response(IdempotencyKeyReused(param="Idempotency-Key"))
        if record.status == IdempotencyRecord.Status.COMPLETE:
            response = HttpResponse(
                bytes(record.response_body or b""),
                status=record.response_status or 200,
                content_type=record.response_content_type or "application/json",
            )
            response["Idempotent-Replayed"] = "true"
            return _marked_replayed(response)
        if record.locked_until > now:
            return error_response(IdempotencyKeyInUse(param="Idempotency-Key"))
        taken = IdempotencyRecord.objects.filter(
            pk=record.pk, status=record.status, locked_until=record.locked_until
        ).update(locked_until=now + LEASE)
        if not taken:
            return error_response(IdempotencyKeyInUse(param="Idempotency-Key"))
        request.kassa_idempotency = record  # type: ignore[attr-defined]
        return None

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        record: IdempotencyRecord | None = getattr(request, "kassa_idempotency", None)
        if record is None:
            return response
        status = response.status_code
        if status >= 500 or status in _NOT_STORED or response.streaming:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response
        assert isinstance(response, HttpResponse)
        record.status = IdempotencyRecord.Status.COMPLETE
        record.response_status = status
        record.response_body = response.content
        record.response_content_type = response.get("Content-Type", "application/json")
        repository.save_record(
            record, ["status", "response_status", "response_body", "response_content_type"]
        )
        return response


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _canonical(request: HttpRequest) -> bytes:
    """The body as the same JSON whatever its key order and spacing, so that a client which
    re-serialises a retry still matches its first request."""
    try:
        body = json_object(request)
    except KassaError:
        return request.body  # refused before this middleware runs; kept for safety
    if body is None:
        return b""
    return _CANONICAL.encode(body).encode()


def _marked_replayed(response: HttpResponse) -> HttpResponse:
    """A resource that reports `replayed` (a wallet charge) says true in a replayed body too,
    as the header does."""
    if b'"replayed"' not in response.content or "json" not in response.get("Content-Type", ""):
        return response
    body = json.loads(response.content)
    if isinstance(body, dict) and body.get("replayed") is False:
        body["replayed"] = True
        response.content = json.dumps(body).encode()
    return response


def prune_expired() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
