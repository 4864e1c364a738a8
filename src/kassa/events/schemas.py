"""Request and response schemas of events and webhook endpoints. The event `type` carries the
catalogue (kassa.events.catalogue) as an enum, so the OpenAPI schema lists every type; apps
register their types in AppConfig.ready(), before the API module is imported."""

from __future__ import annotations

from typing import Any

from ninja import Field, Schema
from pydantic import JsonValue

from kassa.core.schemas import DateTime, InputSchema, QuerySchema
from kassa.events.catalogue import EVENT_TYPES


def _catalogue_markdown() -> str:
    rows = "\n".join(f"- `{name}`: {EVENT_TYPES[name]}" for name in sorted(EVENT_TYPES))
    return f"The event type. Every type Kassa emits:\n\n{rows}"


def _event_types() -> list[JsonValue]:
    return list(sorted(EVENT_TYPES))


class EventData(Schema):
    object: dict[str, Any] = Field(description="A snapshot of the object after the change.")


class EventOut(Schema):
    id: str = Field(description="evt_...; also the webhook-id of its deliveries.")
    object: str = "event"
    type: str = Field(description=_catalogue_markdown(), json_schema_extra={"enum": _event_types()})
    created: str
    data: EventData


class EventList(Schema):
    object: str = "list"
    data: list[EventOut]
    has_more: bool


class EventFilters(QuerySchema):
    type: str | None = Field(None, description="Only events of this type.")
    created_gte: DateTime | None = Field(
        None, alias="created[gte]", description="Created at or after (ISO 8601)."
    )
    created_lte: DateTime | None = Field(
        None, alias="created[lte]", description="Created at or before (ISO 8601)."
    )


ENABLED_EVENTS_HELP = '["*"] for every event type, or a list of types from the catalogue.'


class WebhookEndpointIn(InputSchema):
    url: str = Field(max_length=2048, description="https:// (http:// allowed in test mode).")
    enabled_events: list[str] = Field(description=ENABLED_EVENTS_HELP)
    description: str | None = Field(None, max_length=500)


class WebhookEndpointUpdate(InputSchema):
    url: str | None = Field(None, max_length=2048)
    enabled_events: list[str] | None = Field(None, description=ENABLED_EVENTS_HELP)
    description: str | None = Field(None, max_length=500)
    status: str | None = Field(None, description="enabled or disabled")


class WebhookEndpointOut(Schema):
    id: str
    object: str = "webhook_endpoint"
    url: str
    description: str
    enabled_events: list[str]
    status: str = Field(description="enabled or disabled")
    disabled_reason: str | None = Field(
        None, description="manual, gone (the receiver answered 410) or failing (5 days)"
    )
    livemode: bool
    created: str
    secret: str | None = Field(
        None, description="whsec_...: returned only on create and on rotate_secret."
    )


class WebhookEndpointList(Schema):
    object: str = "list"
    data: list[WebhookEndpointOut]
    has_more: bool


class DeletedOut(Schema):
    id: str
    object: str
    deleted: bool


class WebhookAttemptOut(Schema):
    attempted_at: str
    status_code: int | None
    latency_ms: int
    response_body: str = Field(description="The first 1 KB of the response body.")
    error: str | None
    succeeded: bool


class WebhookDeliveryOut(Schema):
    id: str
    object: str = "webhook_delivery"
    endpoint: str
    event: str
    status: str = Field(description="pending, succeeded or failed")
    attempt_count: int
    next_attempt_at: str | None
    last_attempt_at: str | None
    last_status_code: int | None
    manual: bool = Field(description="A redelivery asked for by hand.")
    created: str
    attempts: list[WebhookAttemptOut] | None = None


class WebhookDeliveryList(Schema):
    object: str = "list"
    data: list[WebhookDeliveryOut]
    has_more: bool


class RedeliverIn(InputSchema):
    event: str | None = Field(None, description="evt_...: redeliver this one event.")
    failed_since: DateTime | None = Field(
        None, description="Redeliver every event created since then whose delivery failed."
    )


class RedeliverOut(Schema):
    object: str = "redelivery"
    count: int
    deliveries: list[str] = Field(description="The ids of the new deliveries (one event only).")
