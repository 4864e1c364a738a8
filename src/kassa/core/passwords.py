"""Kassa's own password rule, beside Django's (settings.AUTH_PASSWORD_VALIDATORS).

`kassa demo` prints its staff password and the README publishes it, so it must never guard any
other account: only the demo's own user may have it. Every path that sets a staff password
(`kassa staff add`, the admin's user and password forms) runs the validators, so
`kassa staff add --password kassa-demo-2026` is refused like a too short or common password.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from kassa.core.demo import DEMO_STAFF_EMAIL, DEMO_STAFF_PASSWORD


class NotTheDemoPassword:
    """Refuses the published demo password for every user but the demo's own."""

    def validate(self, password: str, user: Any = None) -> None:
        if password.strip().casefold() != DEMO_STAFF_PASSWORD.casefold():
            return
        if user is not None and getattr(user, "username", None) == DEMO_STAFF_EMAIL:
            return
        raise ValidationError(
            _("This password is published as Kassa's demo password."), code="password_published"
        )

    def get_help_text(self) -> str:
        return _("Your password can't be Kassa's published demo password.")
