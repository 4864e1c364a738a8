"""The staff's email when the webhook dispatcher disables an endpoint (kassa.events sends
`endpoint_disabled`; it sits below this app and may not call it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.translation import gettext_lazy as _

from kassa.core.representations import iso
from kassa.events.signals import endpoint_disabled
from kassa.notifications.services import notify_staff, register_type

TYPE = "webhooks.endpoint_disabled"


def _email_owners(
    sender: Any,
    *,
    organization_id: str,
    endpoint_id: str,
    url: str,
    reason: str,
    failing_since: str,
    disabled_at: datetime,
    **kwargs: Any,
) -> None:
    notify_staff(
        organization_id,
        TYPE,
        context={
            "endpoint_id": endpoint_id,
            "url": url,
            "reason": reason,
            "failing_since": failing_since,
        },
        dedupe_key=f"webhook-endpoint-disabled:{endpoint_id}:{iso(disabled_at)}",
    )


def connect() -> None:
    register_type(
        TYPE,
        label=str(_("Webhook endpoint disabled")),
        template="events/email/endpoint_disabled",
        audience="staff",
    )
    endpoint_disabled.connect(_email_owners, dispatch_uid="kassa.notifications.endpoint_alerts")
