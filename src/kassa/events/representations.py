"""The public JSON form of events, webhook endpoints and deliveries: what the API returns and
what webhooks and events carry."""

from __future__ import annotations

from typing import Any

from kassa.core.representations import iso
from kassa.events.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint


def event_dict(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "object": "event",
        "type": event.type,
        "created": iso(event.created_at),
        "data": event.data,
    }


def endpoint_dict(endpoint: WebhookEndpoint, *, secret: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "url": endpoint.url,
        "description": endpoint.description,
        "enabled_events": list(endpoint.enabled_events),
        "status": endpoint.status,
        "disabled_reason": endpoint.disabled_reason or None,
        "livemode": endpoint.livemode,
        "created": iso(endpoint.created_at),
    }
    if secret is not None:
        data["secret"] = secret
    return data


def attempt_dict(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "attempted_at": iso(attempt.attempted_at),
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "response_body": attempt.response_body,
        "error": attempt.error or None,
        "succeeded": attempt.succeeded,
    }


def delivery_dict(delivery: WebhookDelivery, *, attempts: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": delivery.id,
        "object": "webhook_delivery",
        "endpoint": delivery.endpoint_id,
        "event": delivery.event_id,
        "status": delivery.status,
        "attempt_count": delivery.attempt_count,
        "next_attempt_at": iso(delivery.next_attempt_at) if delivery.next_attempt_at else None,
        "last_attempt_at": iso(delivery.last_attempt_at) if delivery.last_attempt_at else None,
        "last_status_code": delivery.last_status_code,
        "manual": delivery.manual,
        "created": iso(delivery.created_at),
    }
    if attempts:
        data["attempts"] = [attempt_dict(a) for a in delivery.attempts.all()]
    return data
