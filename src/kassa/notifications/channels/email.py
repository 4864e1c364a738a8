"""The email channel: Django's email over SMTP (KASSA_EMAIL_URL), an HTML and a text part."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from kassa.notifications.channels import HardFailure, TransientFailure
from kassa.notifications.models import Notification
from kassa.notifications.rendering import Rendered


def send(notification: Notification, rendered: Rendered) -> None:
    organization = notification.organization
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient],
        reply_to=[organization.email] if organization.email else None,
        headers={"X-Kassa-Notification": notification.id},
    )
    message.attach_alternative(rendered.html, "text/html")
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{code} {msg!r}" for code, msg in exc.recipients.values())
        if codes and all(code >= 500 for code in codes):
            raise HardFailure(f"recipient refused: {detail}") from exc
        raise TransientFailure(f"recipient deferred: {detail}") from exc
    except smtplib.SMTPResponseException as exc:
        text = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
        if 550 <= exc.smtp_code <= 553:
            raise HardFailure(text) from exc
        raise TransientFailure(text) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc
