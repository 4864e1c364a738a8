"""Refusals of the notifications services; the API renders them as error objects."""

from __future__ import annotations

from kassa.core.errors import InvalidRequest


class InvalidPhoneNumber(InvalidRequest):
    code = "invalid_phone_number"
    default_message = "The phone number must be in E.164 form, e.g. +998901234567."


class InvalidPushSubscription(InvalidRequest):
    code = "invalid_push_subscription"
    default_message = "The push subscription is not valid."


class InvalidCallbackUrl(InvalidRequest):
    code = "invalid_callback_url"
    default_message = "The callback URL is not allowed."


class UnknownChannel(InvalidRequest):
    code = "unknown_channel"
    default_message = "The channel must be one of email, sms, push, webhook."


class UnknownType(InvalidRequest):
    code = "unknown_notification_type"
    default_message = "No such notification type."
