"""Webhook endpoints: the service functions behind the API and the admin, and the fan-out that
turns each new event into one delivery row per subscribed endpoint (in the event's own
transaction, so a delivery exists if and only if its event committed)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from kassa.core import audit
from kassa.core.actors import Actor
from kassa.core.crypto import encrypt
from kassa.core.errors import InvalidRequest, StateConflict
from kassa.core.models import Organization
from kassa.core.representations import iso
from kassa.core.urlcheck import check_webhook_url
from kassa.events.catalogue import EVENT_TYPES
from kassa.events.models import (
    DeliveryStatus,
    EndpointStatus,
    Event,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from kassa.events.representations import endpoint_dict
from kassa.events.signing import ROTATION_OVERLAP_HOURS, new_secret
from kassa.platform.hotcache import HotCache

MAX_ENDPOINTS_PER_ORGANIZATION = 50
MAX_DESCRIPTION = 500


# ---------------------------------------------------------------- validation


def validate_enabled_events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest(
            'enabled_events must be ["*"] or a non-empty list of event types.',
            param="enabled_events",
        )
    events: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise InvalidRequest("enabled_events must contain strings.", param="enabled_events")
        if item != "*" and (item not in EVENT_TYPES or item == "ping"):
            raise InvalidRequest(
                f"{item!r} is not an event type; see GET /v1/openapi.json or docs/events.md.",
                param="enabled_events",
            )
        if item not in events:
            events.append(item)
    if "*" in events:
        return ["*"]
    return events


def _description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise InvalidRequest(
            f"description must be text of at most {MAX_DESCRIPTION} characters.",
            param="description",
        )
    return value.strip()


# ---------------------------------------------------------------- endpoints


def create_endpoint(
    organization: Organization,
    *,
    url: str,
    enabled_events: Any,
    description: Any = None,
    livemode: bool,
    actor: Actor,
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint; returns it with its plain secret (shown this once)."""
    url = (url or "").strip()
    check_webhook_url(url, live_mode=livemode)
    events = validate_enabled_events(enabled_events)
    text = _description(description)
    secret = new_secret()
    with transaction.atomic():
        count = WebhookEndpoint.objects.filter(organization=organization).count()
        if count >= MAX_ENDPOINTS_PER_ORGANIZATION:
            raise InvalidRequest(
                f"An organization can have at most {MAX_ENDPOINTS_PER_ORGANIZATION} webhook "
                "endpoints; delete one first."
            )
        endpoint = WebhookEndpoint.objects.create(
            organization=organization,
            url=url,
            description=text,
            enabled_events=events,
            livemode=livemode,
            secret_encrypted=encrypt(secret),
        )
        audit.record(
            actor=actor,
            action="webhook_endpoint.created",
            organization_id=organization.id,
            obj=endpoint,
            after={"url": url, "enabled_events": events},
        )
    return endpoint, secret


def update_endpoint(
    endpoint: WebhookEndpoint, data: dict[str, Any], *, actor: Actor
) -> WebhookEndpoint:
    """Change url, enabled_events, description or status (enabled/disabled)."""
    changes: dict[str, Any] = {}
    if data.get("url") is not None:
        url = str(data["url"]).strip()
        check_webhook_url(url, live_mode=endpoint.livemode)
        changes["url"] = url
    if data.get("enabled_events") is not None:
        changes["enabled_events"] = validate_enabled_events(data["enabled_events"])
    if "description" in data:
        changes["description"] = _description(data["description"])
    status = data.get("status")
    if status is not None and status not in EndpointStatus.values:
        raise InvalidRequest("status must be enabled or disabled.", param="status")
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = {k: getattr(locked, k) for k in changes}
        for key, value in changes.items():
            setattr(locked, key, value)
        if status == EndpointStatus.ENABLED and locked.status != status:
            locked.status, locked.disabled_reason, locked.failing_since = status, "", None
            changes["status"] = status
        elif status == EndpointStatus.DISABLED and locked.status != status:
            locked.status, locked.disabled_reason = status, "manual"
            changes["status"] = status
        locked.updated_at = timezone.now()
        locked.save()
        audit.record(
            actor=actor,
            action="webhook_endpoint.updated",
            organization_id=locked.organization_id,
            obj=locked,
            before={k: v for k, v in before.items()},
            after=changes,
        )
    return locked


def set_endpoint_status(endpoint: WebhookEndpoint, status: str, *, actor: Actor) -> WebhookEndpoint:
    return update_endpoint(endpoint, {"status": status}, actor=actor)


def delete_endpoint(endpoint: WebhookEndpoint, *, actor: Actor) -> None:
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="webhook_endpoint.deleted",
            organization_id=endpoint.organization_id,
            obj=endpoint,
            before={"url": endpoint.url},
        )
        # Attempts first: each delete is then a single statement, however many rows.
        WebhookAttempt.objects.filter(delivery__endpoint=endpoint).delete()
        WebhookDelivery.objects.filter(endpoint=endpoint).delete()
        endpoint.delete()


def rotate_secret(
    endpoint: WebhookEndpoint, *, actor: Actor, now: datetime | None = None
) -> tuple[WebhookEndpoint, str]:
    """A new secret signs from now on; the current one keeps signing for 24 hours."""
    now = now or timezone.now()
    secret = new_secret()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret_encrypted = locked.secret_encrypted
        locked.previous_secret_expires_at = now + timedelta(hours=ROTATION_OVERLAP_HOURS)
        locked.secret_encrypted = encrypt(secret)
        locked.updated_at = now
        locked.save()
        audit.record(
            actor=actor,
            action="webhook_endpoint.secret_rotated",
            organization_id=locked.organization_id,
            obj=locked,
        )
    return locked, secret


def send_test_event(endpoint: WebhookEndpoint, *, actor: Actor) -> WebhookDelivery:
    """A `ping` event delivered to this endpoint only (even one that is disabled cannot be
    tested: the dispatcher skips disabled endpoints, so that is refused)."""
    if endpoint.status != EndpointStatus.ENABLED:
        raise StateConflict("The endpoint is disabled; enable it before sending a test event.")
    with transaction.atomic():
        event = Event.objects.create(
            organization_id=endpoint.organization_id,
            type="ping",
            object_id=endpoint.id,
            data={"object": endpoint_dict(endpoint)},
        )
        return WebhookDelivery.objects.create(
            organization_id=endpoint.organization_id,
            endpoint=endpoint,
            event=event,
            next_attempt_at=event.created_at,
        )


# ---------------------------------------------------------------- redelivery


def _require_enabled(endpoint: WebhookEndpoint) -> None:
    if endpoint.status != EndpointStatus.ENABLED:
        raise StateConflict("The endpoint is disabled; enable it before redelivering events.")


def redeliver_event(endpoint: WebhookEndpoint, event: Event, *, actor: Actor) -> WebhookDelivery:
    """Send one event to the endpoint again, as a new delivery with a fresh retry schedule.
    The `webhook-id` stays the event id, so a receiver that deduplicates still can."""
    _require_enabled(endpoint)
    if event.organization_id != endpoint.organization_id:
        raise InvalidRequest("No such event.", param="event")
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            organization_id=endpoint.organization_id,
            endpoint=endpoint,
            event=event,
            manual=True,
            next_attempt_at=now,
        )
        audit.record(
            actor=actor,
            action="webhook_delivery.redelivered",
            organization_id=endpoint.organization_id,
            obj=delivery,
            after={"event": event.id},
        )
    return delivery


def redeliver_failed_since(
    endpoint: WebhookEndpoint, since: datetime, *, actor: Actor
) -> list[WebhookDelivery]:
    """Redeliver every event whose latest delivery to this endpoint failed, for events created
    at or after `since`; returns the new deliveries."""
    _require_enabled(endpoint)
    now = timezone.now()
    with transaction.atomic():
        rows = WebhookDelivery.objects.filter(
            endpoint=endpoint, event__created_at__gte=since
        ).values_list("event_id", "status", "id")
        latest: dict[str, tuple[str, str]] = {}
        for event_id, status, delivery_id in rows:
            if event_id not in latest or delivery_id > latest[event_id][1]:
                latest[event_id] = (status, delivery_id)
        failed = sorted(e for e, (status, _) in latest.items() if status == DeliveryStatus.FAILED)
        created = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    organization_id=endpoint.organization_id,
                    endpoint=endpoint,
                    event_id=event_id,
                    manual=True,
                    next_attempt_at=now,
                )
                for event_id in failed
            ]
        )
        audit.record(
            actor=actor,
            action="webhook_endpoint.redelivered_failed",
            organization_id=endpoint.organization_id,
            obj=endpoint,
            after={"since": iso(since), "count": len(failed)},
        )
    return created


# ---------------------------------------------------------------- fan-out


# An organization's enabled endpoints (kassa.platform.hotcache; cleared by every save or delete
# of an endpoint), so that emitting an event costs no query when nobody listens.
_ENABLED: HotCache[str, tuple[WebhookEndpoint, ...]] = HotCache("webhook_endpoints")


def _enabled_endpoints(organization_id: str) -> tuple[WebhookEndpoint, ...]:
    found = _ENABLED.get(
        organization_id,
        lambda: tuple(
            WebhookEndpoint.objects.filter(
                organization_id=organization_id, status=EndpointStatus.ENABLED
            ).only("id", "enabled_events")
        ),
    )
    return found or ()


def fan_out(event: Event) -> None:
    """`emit` listener: one pending delivery per enabled endpoint subscribed to the type."""
    deliveries = [
        WebhookDelivery(
            organization_id=event.organization_id,
            endpoint_id=endpoint.id,
            event=event,
            next_attempt_at=event.created_at,
        )
        for endpoint in _enabled_endpoints(event.organization_id)
        if endpoint.accepts(event.type)
    ]
    if deliveries:
        WebhookDelivery.objects.bulk_create(deliveries)
