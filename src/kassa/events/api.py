"""/v1/events and /v1/webhook_endpoints."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from kassa.core.actors import Actor
from kassa.core.auth import api_key_of, organization_of
from kassa.core.errors import InvalidRequest, ResourceMissing
from kassa.core.pagination import ListParams, paginate
from kassa.core.responses import for_delete, for_get, for_post
from kassa.events import catalogue, webhooks
from kassa.events.models import DeliveryStatus, Event, WebhookDelivery, WebhookEndpoint
from kassa.events.representations import delivery_dict, endpoint_dict, event_dict
from kassa.events.schemas import (
    DeletedOut,
    EventFilters,
    EventList,
    EventOut,
    RedeliverIn,
    RedeliverOut,
    WebhookDeliveryList,
    WebhookDeliveryOut,
    WebhookEndpointIn,
    WebhookEndpointList,
    WebhookEndpointOut,
    WebhookEndpointUpdate,
)

router = Router(tags=["events and webhooks"])


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_api_key(api_key_of(request), request)


# ---------------------------------------------------------------- events


@router.get("/events", response=for_get(EventList, 404), summary="List events")
def list_events(
    request: HttpRequest, params: Query[ListParams], filters: Query[EventFilters]
) -> dict[str, Any]:
    scope = Event.objects.filter(organization=organization_of(request))
    queryset = scope
    if filters.type:
        queryset = queryset.filter(type=catalogue.known_type(filters.type, param="type"))
    if filters.created_gte:
        queryset = queryset.filter(created_at__gte=filters.created_gte)
    if filters.created_lte:
        queryset = queryset.filter(created_at__lte=filters.created_lte)
    return paginate(queryset, params, "evt", event_dict, scope=scope)


@router.get("/events/{event_id}", response=for_get(EventOut, 404), summary="Retrieve an event")
def retrieve_event(request: HttpRequest, event_id: str) -> dict[str, Any]:
    event = Event.objects.filter(organization=organization_of(request), pk=event_id).first()
    if event is None:
        raise ResourceMissing(f"No such event: {event_id!r}.", param="id")
    return event_dict(event)


# ---------------------------------------------------------------- webhook endpoints


def get_endpoint(request: HttpRequest, endpoint_id: str) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(
        organization=organization_of(request), pk=endpoint_id
    ).first()
    if endpoint is None:
        raise ResourceMissing(f"No such webhook endpoint: {endpoint_id!r}.", param="id")
    return endpoint


@router.post(
    "/webhook_endpoints",
    response=for_post(WebhookEndpointOut),
    summary="Create a webhook endpoint (the response carries its secret, shown once)",
)
def create_endpoint(request: HttpRequest, body: WebhookEndpointIn) -> dict[str, Any]:
    endpoint, secret = webhooks.create_endpoint(
        organization_of(request),
        url=body.url,
        enabled_events=body.enabled_events,
        description=body.description,
        livemode=api_key_of(request).livemode,
        actor=_actor(request),
    )
    return endpoint_dict(endpoint, secret=secret)


@router.get("/webhook_endpoints", response=for_get(WebhookEndpointList, 404))
def list_endpoints(request: HttpRequest, params: Query[ListParams]) -> dict[str, Any]:
    queryset = WebhookEndpoint.objects.filter(organization=organization_of(request))
    return paginate(queryset, params, "we", endpoint_dict)


@router.get("/webhook_endpoints/{endpoint_id}", response=for_get(WebhookEndpointOut, 404))
def retrieve_endpoint(request: HttpRequest, endpoint_id: str) -> dict[str, Any]:
    return endpoint_dict(get_endpoint(request, endpoint_id))


@router.post(
    "/webhook_endpoints/{endpoint_id}",
    response=for_post(WebhookEndpointOut, 404),
    summary="Update a webhook endpoint (url, enabled_events, description, status)",
)
def update_endpoint(
    request: HttpRequest, endpoint_id: str, body: WebhookEndpointUpdate
) -> dict[str, Any]:
    endpoint = webhooks.update_endpoint(
        get_endpoint(request, endpoint_id),
        body.model_dump(exclude_unset=True),
        actor=_actor(request),
    )
    return endpoint_dict(endpoint)


@router.post("/webhook_endpoints/{endpoint_id}/disable", response=for_post(WebhookEndpointOut, 404))
def disable_endpoint(request: HttpRequest, endpoint_id: str) -> dict[str, Any]:
    endpoint = webhooks.set_endpoint_status(
        get_endpoint(request, endpoint_id), "disabled", actor=_actor(request)
    )
    return endpoint_dict(endpoint)


@router.post("/webhook_endpoints/{endpoint_id}/enable", response=for_post(WebhookEndpointOut, 404))
def enable_endpoint(request: HttpRequest, endpoint_id: str) -> dict[str, Any]:
    endpoint = webhooks.set_endpoint_status(
        get_endpoint(request, endpoint_id), "enabled", actor=_actor(request)
    )
    return endpoint_dict(endpoint)


@router.delete("/webhook_endpoints/{endpoint_id}", response=for_delete(DeletedOut, 404))
def delete_endpoint(request: HttpRequest, endpoint_id: str) -> dict[str, Any]:
    endpoint = get_endpoint(request, endpoint_id)
    webhooks.delete_endpoint(endpoint, actor=_actor(request))
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


@router.post(
    "/webhook_endpoints/{endpoint_id}/rotate_secret",
    response=for_post(WebhookEndpointOut, 404),
    summary="Rotate the signing secret (the old one keeps signing for 24 hours)",
)
def rotate_secret(request: HttpRequest, endpoint_id: str) -> dict[str, Any]:
    endpoint, secret = webhooks.rotate_secret(
        get_endpoint(request, endpoint_id), actor=_actor(request)
    )
    return endpoint_dict(endpoint, secret=secret)


@router.post(
    "/webhook_endpoints/{endpoint_id}/test",
    response=for_post(WebhookDeliveryOut, 404),
    summary="Send a ping event to this endpoint",
)
def test_endpoint(request: HttpRequest, endpoint_id: str) -> dict[str, Any]:
    delivery = webhooks.send_test_event(get_endpoint(request, endpoint_id), actor=_actor(request))
    return delivery_dict(delivery)


@router.get(
    "/webhook_endpoints/{endpoint_id}/deliveries", response=for_get(WebhookDeliveryList, 404)
)
def list_deliveries(
    request: HttpRequest,
    endpoint_id: str,
    params: Query[ListParams],
    status: DeliveryStatus | None = None,
    event: str | None = None,
) -> dict[str, Any]:
    scope = WebhookDelivery.objects.filter(endpoint=get_endpoint(request, endpoint_id))
    queryset = scope
    if status:
        queryset = queryset.filter(status=status)
    if event:
        queryset = queryset.filter(event_id=event)
    return paginate(queryset, params, "whd", delivery_dict, scope=scope)


@router.post(
    "/webhook_endpoints/{endpoint_id}/redeliver",
    response=for_post(RedeliverOut, 404),
    summary="Redeliver one event, or every failed event since a time",
)
def redeliver(request: HttpRequest, endpoint_id: str, body: RedeliverIn) -> dict[str, Any]:
    endpoint = get_endpoint(request, endpoint_id)
    if (body.event is None) == (body.failed_since is None):
        raise InvalidRequest("Give exactly one of event and failed_since.", param="event")
    if body.event is not None:
        event = Event.objects.filter(
            organization_id=endpoint.organization_id, pk=body.event
        ).first()
        if event is None:
            raise ResourceMissing(f"No such event: {body.event!r}.", param="event")
        deliveries = [webhooks.redeliver_event(endpoint, event, actor=_actor(request))]
    else:
        assert body.failed_since is not None
        deliveries = webhooks.redeliver_failed_since(
            endpoint, body.failed_since, actor=_actor(request)
        )
    return {
        "object": "redelivery",
        "count": len(deliveries),
        "deliveries": [d.id for d in deliveries],
    }


@router.get("/webhook_deliveries/{delivery_id}", response=for_get(WebhookDeliveryOut, 404))
def retrieve_delivery(request: HttpRequest, delivery_id: str) -> dict[str, Any]:
    delivery = WebhookDelivery.objects.filter(
        organization=organization_of(request), pk=delivery_id
    ).first()
    if delivery is None:
        raise ResourceMissing(f"No such webhook delivery: {delivery_id!r}.", param="id")
    return delivery_dict(delivery, attempts=True)
