"""The notifications interface other apps call: `register_type`, `notify`, `notify_staff`.

`notify` runs inside the transaction that causes the notification: it stores one row per
channel and recipient and enqueues each row's delivery task in that same transaction, so a
notification exists if and only if its cause committed. Delivery (in `delivery.py`) happens
in a task, outside any transaction.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from kassa.core import audit, crypto
from kassa.core.actors import Actor
from kassa.core.errors import KassaError
from kassa.core.models import Membership, Organization
from kassa.core.urlcheck import check_webhook_url
from kassa.customers.models import Customer
from kassa.notifications import sms_providers
from kassa.notifications.errors import (
    InvalidCallbackUrl,
    InvalidPushSubscription,
    UnknownChannel,
    UnknownType,
)
from kassa.notifications.models import (
    Channel,
    CustomerWebhook,
    Notification,
    NotificationPreference,
    NotificationStatus,
    PushSubscription,
    RecipientState,
)
from kassa.notifications.registry import (
    CHANNELS,
    NotificationType,
    UnknownNotificationType,
    get_type,
    register,
    registered_types,
)
from kassa.notifications.webpush import b64url_decode

__all__ = [
    "UnknownNotificationType",
    "notify",
    "notify_staff",
    "preferences",
    "register_type",
    "remove_customer_webhook",
    "resend",
    "set_customer_webhook",
    "set_preference",
    "subscribe_push",
    "unpause",
    "unsubscribe_push",
]


def register_type(
    key: str,
    *,
    label: str,
    template: str,
    audience: str = "customer",
    channels: tuple[str, ...] = ("email",),
    sample: dict[str, Any] | None = None,
) -> None:
    """`sample` is example context for the admin's template preview."""
    register(
        NotificationType(
            key=key,
            label=label,
            template=template,
            audience=audience,
            channels=channels,
            sample=sample or {},
        )
    )


def _check_context(context: dict[str, Any]) -> None:
    try:
        json.dumps(context)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"notification context must be JSON-serialisable: {exc}") from None


def _enabled_channels(ntype: NotificationType, customer: Customer | None) -> dict[str, bool]:
    """{channel: enabled} for every channel this notification considers.

    A type's default channels are on unless the customer switched them off; a customer may
    also switch on a channel the type does not use by default. A preference for the exact
    type wins over one for every type ("*")."""
    result = {channel: True for channel in ntype.channels}
    if customer is None:
        return result
    prefs = NotificationPreference.objects.filter(customer=customer, type__in=[ntype.key, "*"])
    for pref in sorted(prefs, key=lambda p: p.type != "*"):
        result[pref.channel] = pref.enabled
    return {channel: result[channel] for channel in CHANNELS if channel in result}


def _address(channel: str, customer: Customer | None, to_email: str | None) -> str:
    if channel == Channel.EMAIL:
        return to_email or (customer.email if customer else "")
    if customer is None:
        return ""
    if channel == Channel.SMS:
        return customer.phone
    if channel == Channel.PUSH:
        active = PushSubscription.objects.filter(customer=customer, revoked_at__isnull=True)
        return customer.id if active.exists() else ""
    if channel == Channel.WEBHOOK:
        hook = CustomerWebhook.objects.filter(customer=customer, disabled_at__isnull=True).first()
        return hook.url if hook else ""
    return ""


def _paused(organization_id: str, channel: str, recipient: str) -> bool:
    return RecipientState.objects.filter(
        organization_id=organization_id,
        channel=channel,
        recipient=recipient,
        paused_at__isnull=False,
    ).exists()


def _store(
    organization: Organization,
    ntype: NotificationType,
    targets: list[tuple[str, str, str]],
    *,
    customer: Customer | None,
    context: dict[str, Any],
    locale: str,
    dedupe_key: str | None,
) -> list[Notification]:
    from kassa.notifications.tasks import deliver_notification

    now = timezone.now()
    rows = [
        Notification(
            organization=organization,
            type=ntype.key,
            channel=channel,
            customer=customer,
            recipient=recipient,
            locale=locale,
            context=context,
            dedupe_key=dedupe_key or "",
            status=NotificationStatus.SKIPPED if skip_reason else NotificationStatus.QUEUED,
            last_error=skip_reason,
            created_at=now,
        )
        for channel, recipient, skip_reason in targets
    ]
    try:
        with transaction.atomic():
            for row in rows:
                row.save(force_insert=True)
    except IntegrityError:
        if not dedupe_key:
            raise
        # Another transaction stored this dedupe key first; theirs are the rows.
        return _existing(organization.id, dedupe_key)
    for row in rows:
        if row.status == NotificationStatus.QUEUED:
            deliver_notification.enqueue(row.id)
    return rows


def _existing(organization_id: str, dedupe_key: str) -> list[Notification]:
    return list(
        Notification.objects.filter(
            organization_id=organization_id, dedupe_key=dedupe_key
        ).order_by("id")
    )


def notify(
    organization_id: str,
    type_key: str,
    *,
    customer_id: str | None = None,
    to_email: str | None = None,
    context: dict[str, Any],
    locale: str | None = None,
    dedupe_key: str | None = None,
) -> list[Notification]:
    """Store and enqueue a notification for one customer (or one email address)."""
    ntype = get_type(type_key)
    if ntype.audience != "customer":
        raise ValueError(f"{type_key} is a staff notification; use notify_staff()")
    if customer_id is None and not to_email:
        raise ValueError("notify() needs a customer_id or a to_email")
    _check_context(context)
    with transaction.atomic():
        if dedupe_key:
            existing = _existing(organization_id, dedupe_key)
            if existing:
                return existing
        organization = Organization.objects.get(pk=organization_id)
        customer = None
        if customer_id is not None:
            customer = Customer.objects.get(pk=customer_id, organization_id=organization_id)
        chosen_locale = locale or (customer.locale if customer else "") or organization.locale
        targets: list[tuple[str, str, str]] = []
        for channel, enabled in _enabled_channels(ntype, customer).items():
            if customer is None and channel != Channel.EMAIL:
                continue
            recipient = _address(channel, customer, to_email)
            if not enabled:
                reason = "switched off in the customer's preferences"
            elif not recipient:
                reason = "no address for this channel"
            elif channel == Channel.SMS and sms_providers.configured() is None:
                reason = "SMS is not configured (KASSA_SMS_URL)"
            elif _paused(organization_id, channel, recipient):
                reason = "channel paused for this recipient after repeated hard failures"
            else:
                reason = ""
            targets.append((channel, recipient, reason))
        return _store(
            organization,
            ntype,
            targets,
            customer=customer,
            context=context,
            locale=chosen_locale,
            dedupe_key=dedupe_key,
        )


def notify_staff(
    organization_id: str,
    type_key: str,
    *,
    context: dict[str, Any],
    roles: tuple[str, ...] = ("owner",),
    dedupe_key: str | None = None,
) -> list[Notification]:
    """Email the organization's staff with one of `roles` (by their Membership)."""
    ntype = get_type(type_key)
    if ntype.audience != "staff":
        raise ValueError(f"{type_key} is a customer notification; use notify()")
    _check_context(context)
    with transaction.atomic():
        if dedupe_key:
            existing = _existing(organization_id, dedupe_key)
            if existing:
                return existing
        organization = Organization.objects.get(pk=organization_id)
        user_ids = Membership.objects.filter(
            organization_id=organization_id, role__in=roles
        ).values_list("user_id", flat=True)
        emails = sorted(
            {
                user.email.strip().lower()
                for user in get_user_model().objects.filter(pk__in=user_ids, is_active=True)
                if user.email
            }
        )
        targets = [
            (
                Channel.EMAIL.value,
                email,
                "channel paused for this recipient after repeated hard failures"
                if _paused(organization_id, Channel.EMAIL, email)
                else "",
            )
            for email in emails
        ]
        return _store(
            organization,
            ntype,
            targets,
            customer=None,
            context=context,
            locale=organization.locale,
            dedupe_key=dedupe_key,
        )


def resend(notification_id: str, *, actor: Actor | None = None) -> Notification:
    """Send a stored notification again (admin "resend"): a new row, delivered now."""
    from kassa.notifications.tasks import deliver_notification

    with transaction.atomic():
        original = Notification.objects.get(pk=notification_id)
        if actor is not None:
            audit.record(
                actor=actor,
                action="notifications.notification.resend",
                organization_id=original.organization_id,
                obj=original,
            )
        copy = Notification.objects.create(
            organization_id=original.organization_id,
            type=original.type,
            channel=original.channel,
            customer_id=original.customer_id,
            recipient=original.recipient,
            locale=original.locale,
            context=original.context,
        )
        deliver_notification.enqueue(copy.id)
    return copy


def set_preference(customer: Customer, type_key: str, channel: str, enabled: bool) -> None:
    """Switch one channel on or off for one type ("*": every type) for a customer."""
    if type_key != "*":
        get_type(type_key)
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}")
    with transaction.atomic():
        NotificationPreference.objects.update_or_create(
            customer=customer,
            type=type_key,
            channel=channel,
            defaults={
                "organization_id": customer.organization_id,
                "enabled": enabled,
                "updated_at": timezone.now(),
            },
        )


def _check_push_key(value: str, length: int, param: str) -> None:
    try:
        raw = b64url_decode(value)
    except (ValueError, TypeError):
        raise InvalidPushSubscription(f"{param} must be URL-safe base64.", param=param) from None
    if len(raw) != length or (param == "p256dh" and raw[0] != 0x04):
        raise InvalidPushSubscription(
            f"{param} must be {length} bytes (got {len(raw)}).", param=param
        )


def _check_push_endpoint(endpoint: str) -> None:
    """A push endpoint comes from the customer's browser, so it gets the same SSRF guard as
    webhook URLs: https on a public address (http and private addresses only with
    KASSA_ALLOW_PRIVATE_WEBHOOK_URLS, for local push services in tests)."""
    if len(endpoint) > 1000:
        raise InvalidPushSubscription("endpoint is too long.", param="endpoint")
    try:
        check_webhook_url(endpoint, live_mode=not settings.KASSA_ALLOW_PRIVATE_WEBHOOK_URLS)
    except KassaError as exc:
        raise InvalidPushSubscription(f"endpoint: {exc.message}", param="endpoint") from None


def subscribe_push(customer: Customer, endpoint: str, p256dh: str, auth: str) -> PushSubscription:
    """Store a browser's push subscription for a customer (the portal calls this with what
    `pushManager.subscribe()` returned). Subscribing again with the same endpoint updates its
    keys and revives it; a new subscription also lifts a pause of the customer's push channel,
    since the pause was for subscriptions that no longer exist."""
    endpoint = endpoint.strip()
    _check_push_endpoint(endpoint)
    _check_push_key(p256dh, 65, "p256dh")
    _check_push_key(auth, 16, "auth")
    with transaction.atomic():
        subscription, _ = PushSubscription.objects.update_or_create(
            customer=customer,
            endpoint=endpoint,
            defaults={
                "organization_id": customer.organization_id,
                "p256dh": p256dh,
                "auth": auth,
                "revoked_at": None,
            },
        )
        RecipientState.objects.filter(
            organization_id=customer.organization_id, channel=Channel.PUSH, recipient=customer.id
        ).delete()
    return subscription


def unsubscribe_push(customer: Customer, endpoint: str) -> None:
    """Forget a browser's subscription (the customer switched push off in that browser)."""
    with transaction.atomic():
        PushSubscription.objects.filter(customer=customer, endpoint=endpoint.strip()).delete()


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def set_customer_webhook(
    customer: Customer, url: str, *, live_mode: bool, actor: Actor
) -> tuple[CustomerWebhook, str]:
    """Point the customer's webhook channel at `url` with a new signing secret; returns the
    callback and the secret (shown this once). The URL passes the SSRF guard: https in live
    mode and public addresses only (unless KASSA_ALLOW_PRIVATE_WEBHOOK_URLS)."""
    url = url.strip() if isinstance(url, str) else url
    try:
        check_webhook_url(url, live_mode=live_mode)
    except KassaError as exc:
        raise InvalidCallbackUrl(exc.message, param="url") from None
    secret = new_webhook_secret()
    with transaction.atomic():
        hook, _ = CustomerWebhook.objects.update_or_create(
            customer=customer,
            defaults={
                "organization_id": customer.organization_id,
                "url": url,
                "secret": crypto.encrypt(secret),
                "created_at": timezone.now(),
                "disabled_at": None,
            },
        )
        RecipientState.objects.filter(
            organization_id=customer.organization_id, channel=Channel.WEBHOOK, recipient=url
        ).delete()
        audit.record(
            actor=actor,
            action="notifications.customer_webhook.set",
            organization_id=customer.organization_id,
            obj=hook,
            after={"customer": customer.id, "url": url},
        )
    return hook, secret


def remove_customer_webhook(customer: Customer, *, actor: Actor) -> None:
    with transaction.atomic():
        hook = CustomerWebhook.objects.filter(customer=customer).first()
        if hook is None:
            return
        audit.record(
            actor=actor,
            action="notifications.customer_webhook.remove",
            organization_id=customer.organization_id,
            obj=hook,
            before={"customer": customer.id, "url": hook.url},
        )
        hook.delete()


def preferences(customer: Customer) -> list[dict[str, Any]]:
    """Every registered customer type with each channel's effective setting for the customer:
    `enabled` (what notify would do) and `source` ("default", "type" or "all")."""
    stored = {
        (p.type, p.channel): p.enabled
        for p in NotificationPreference.objects.filter(customer=customer)
    }
    result = []
    for ntype in registered_types():
        if ntype.audience != "customer":
            continue
        channels = {}
        for channel in CHANNELS:
            if (ntype.key, channel) in stored:
                enabled, source = stored[(ntype.key, channel)], "type"
            elif ("*", channel) in stored:
                enabled, source = stored[("*", channel)], "all"
            else:
                enabled, source = channel in ntype.channels, "default"
            channels[channel] = {"enabled": enabled, "source": source}
        result.append({"type": ntype.key, "label": ntype.label, "channels": channels})
    return result


def set_preferences(
    customer: Customer, changes: list[tuple[str, str, bool | None]], *, actor: Actor
) -> None:
    """Apply several (type or "*", channel, enabled) changes at once; `None` removes the
    customer's own setting so the default applies again. All or nothing."""
    for type_key, channel, _ in changes:
        if type_key != "*":
            try:
                ntype = get_type(type_key)
            except UnknownNotificationType:
                raise UnknownType(
                    f"No such notification type: {type_key!r}.", param="type"
                ) from None
            if ntype.audience != "customer":
                raise UnknownType(f"{type_key!r} is a staff notification.", param="type")
        if channel not in CHANNELS:
            raise UnknownChannel(param="channel")
    with transaction.atomic():
        for type_key, channel, enabled in changes:
            if enabled is None:
                NotificationPreference.objects.filter(
                    customer=customer, type=type_key, channel=channel
                ).delete()
                continue
            NotificationPreference.objects.update_or_create(
                customer=customer,
                type=type_key,
                channel=channel,
                defaults={
                    "organization_id": customer.organization_id,
                    "enabled": enabled,
                    "updated_at": timezone.now(),
                },
            )
        audit.record(
            actor=actor,
            action="notifications.preferences.update",
            organization_id=customer.organization_id,
            obj=customer,
            after={"changes": [list(change) for change in changes]},
        )


def unpause(state: RecipientState, *, actor: Actor) -> None:
    """Let a paused channel send to the address again (staff decided it is fixed)."""
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="notifications.recipient.unpause",
            organization_id=state.organization_id,
            obj=state,
            before={
                "channel": state.channel,
                "recipient": state.recipient,
                "hard_failures": state.hard_failures,
            },
        )
        RecipientState.objects.filter(pk=state.pk).update(
            paused_at=None, hard_failures=0, updated_at=timezone.now()
        )
