"""/v1/customers/{id}/notification_preferences, /v1/customers/{id}/notification_webhook and
/v1/notifications: the staff's side of notifications."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from kassa.core.actors import Actor
from kassa.core.auth import api_key_of, organization_of
from kassa.core.errors import ResourceMissing
from kassa.core.pagination import ListParams, paginate
from kassa.core.responses import for_delete, for_get, for_post, for_put
from kassa.customers.api import get_customer
from kassa.notifications import services
from kassa.notifications.models import (
    Channel,
    CustomerWebhook,
    Notification,
    NotificationStatus,
)
from kassa.notifications.representations import notification_dict, webhook_dict
from kassa.notifications.schemas import (
    CustomerWebhookIn,
    CustomerWebhookOut,
    NotificationList,
    NotificationOut,
    PreferencesIn,
    PreferencesOut,
)

router = Router(tags=["notifications"])


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_api_key(api_key_of(request), request)


# -- preferences -------------------------------------------------------------------------------


@router.get(
    "/customers/{customer_id}/notification_preferences",
    response=for_get(PreferencesOut, 404),
    summary="A customer's notification preferences per type and channel",
)
def get_preferences(request: HttpRequest, customer_id: str) -> dict[str, Any]:
    customer = get_customer(request, customer_id)
    return {
        "object": "notification_preferences",
        "customer": customer.id,
        "data": services.preferences(customer),
    }


@router.put(
    "/customers/{customer_id}/notification_preferences",
    response=for_put(PreferencesOut, 404),
    summary="Switch channels on or off per notification type for a customer",
)
def put_preferences(request: HttpRequest, customer_id: str, body: PreferencesIn) -> dict[str, Any]:
    customer = get_customer(request, customer_id)
    changes: list[tuple[str, str, bool | None]] = [
        (p.type, str(p.channel), p.enabled) for p in body.preferences
    ]
    services.set_preferences(customer, changes, actor=_actor(request))
    return get_preferences(request, customer_id)


# -- the customer's own webhook ----------------------------------------------------------------


@router.get(
    "/customers/{customer_id}/notification_webhook",
    response=for_get(CustomerWebhookOut, 404),
    summary="The customer's callback URL for notifications",
)
def get_webhook(request: HttpRequest, customer_id: str) -> dict[str, Any]:
    customer = get_customer(request, customer_id)
    hook = CustomerWebhook.objects.filter(customer=customer).first()
    if hook is None:
        raise ResourceMissing("This customer has no notification webhook.")
    return webhook_dict(hook)


@router.put(
    "/customers/{customer_id}/notification_webhook",
    response=for_put(CustomerWebhookOut, 404),
    summary="Set the customer's callback URL (the response carries its secret, shown once)",
)
def put_webhook(request: HttpRequest, customer_id: str, body: CustomerWebhookIn) -> dict[str, Any]:
    customer = get_customer(request, customer_id)
    hook, secret = services.set_customer_webhook(
        customer, body.url, live_mode=api_key_of(request).livemode, actor=_actor(request)
    )
    return webhook_dict(hook, secret)


@router.delete(
    "/customers/{customer_id}/notification_webhook",
    response=for_delete(None, 404, status=204),
    summary="Remove the customer's callback URL",
)
def delete_webhook(request: HttpRequest, customer_id: str) -> HttpResponse:
    services.remove_customer_webhook(get_customer(request, customer_id), actor=_actor(request))
    return HttpResponse(status=204)


# -- notifications -----------------------------------------------------------------------------


@router.get("/notifications", response=for_get(NotificationList, 404))
def list_notifications(
    request: HttpRequest,
    params: Query[ListParams],
    channel: Channel | None = None,
    status: NotificationStatus | None = None,
    type: str | None = None,
    customer: str | None = None,
) -> dict[str, Any]:
    scope = Notification.objects.filter(organization=organization_of(request))
    queryset = scope
    if channel:
        queryset = queryset.filter(channel=channel)
    if status:
        queryset = queryset.filter(status=status)
    if type:
        queryset = queryset.filter(type=type)
    if customer:
        queryset = queryset.filter(customer_id=customer)
    return paginate(queryset, params, "ntf", notification_dict, scope=scope)


def _notification(request: HttpRequest, notification_id: str) -> Notification:
    row = Notification.objects.filter(
        organization=organization_of(request), pk=notification_id
    ).first()
    if row is None:
        raise ResourceMissing(f"No such notification: {notification_id!r}.", param="id")
    return row


@router.get("/notifications/{notification_id}", response=for_get(NotificationOut, 404))
def retrieve_notification(request: HttpRequest, notification_id: str) -> dict[str, Any]:
    return notification_dict(_notification(request, notification_id))


@router.post(
    "/notifications/{notification_id}/resend",
    response=for_post(NotificationOut, 404),
    summary="Send a stored notification again (a new notification, delivered now)",
)
def resend_notification(request: HttpRequest, notification_id: str) -> dict[str, Any]:
    row = services.resend(_notification(request, notification_id).id, actor=_actor(request))
    return notification_dict(row)
