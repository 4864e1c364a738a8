"""Request and response schemas of the notifications API."""

from __future__ import annotations

from typing import Literal

from ninja import Field, Schema

from kassa.core.schemas import InputSchema

ChannelName = Literal["email", "sms", "push", "webhook"]


class ChannelSetting(Schema):
    enabled: bool
    source: str = Field(
        description="default (the type's default), type (set for this type) or all (set for "
        'every type with type "*")'
    )


class TypePreferences(Schema):
    type: str
    label: str
    channels: dict[str, ChannelSetting]


class PreferencesOut(Schema):
    object: str = "notification_preferences"
    customer: str
    data: list[TypePreferences]


class PreferenceChange(InputSchema):
    type: str = Field(description='A notification type, or "*" for every type.', max_length=100)
    channel: ChannelName
    enabled: bool | None = Field(
        description="true or false; null removes the customer's setting (the default applies)."
    )


class PreferencesIn(InputSchema):
    preferences: list[PreferenceChange] = Field(max_length=200)


class CustomerWebhookIn(InputSchema):
    url: str = Field(max_length=1000)


class CustomerWebhookOut(Schema):
    id: str
    object: str = "customer_webhook"
    customer: str
    url: str
    status: str = Field(description="enabled, or disabled after the URL answered 410 Gone")
    secret: str | None = Field(None, description="whsec_...: returned only when the URL is set.")
    created: str


class NotificationOut(Schema):
    id: str
    object: str = "notification"
    type: str
    channel: str
    customer: str | None
    recipient: str
    locale: str
    status: str
    attempts: int
    last_error: str | None
    created: str
    last_attempt: str | None
    next_attempt: str | None
    sent: str | None


class NotificationList(Schema):
    object: str = "list"
    data: list[NotificationOut]
    has_more: bool
