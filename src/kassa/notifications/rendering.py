"""Rendering a notification's templates in its language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.template import TemplateDoesNotExist
from django.template.loader import get_template, render_to_string
from django.utils import translation
from django.utils.translation import gettext

from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.notifications.registry import NotificationType


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    # One or two sentences for SMS and push: the `_short` template, else the subject.
    short: str


def render(
    ntype: NotificationType,
    *,
    organization: Organization,
    customer: Customer | None,
    context: dict[str, Any],
    locale: str,
) -> Rendered:
    with translation.override(locale):
        footer = gettext("You receive this message from %(organization)s.") % {
            "organization": organization.name
        }
        full = {**context, "organization": organization, "customer": customer, "footer": footer}
        # A subject is one line whatever the template's trailing newlines.
        subject = " ".join(render_to_string(f"{ntype.template}_subject.txt", full).split())
        text = render_to_string(f"{ntype.template}.txt", full).strip()
        html = render_to_string(f"{ntype.template}.html", full)
        try:
            get_template(f"{ntype.template}_short.txt")
        except TemplateDoesNotExist:
            short = subject
        else:
            short = " ".join(render_to_string(f"{ntype.template}_short.txt", full).split())
    return Rendered(subject=subject, text=f"{text}\n\n-- \n{footer}\n", html=html, short=short)
