"""The admin's sign-in form: unfold's, with the lockout's own message (kassa.core.backends)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from unfold.forms import AuthenticationForm

from kassa.core.backends import lock_of


class AdminSignInForm(AuthenticationForm):
    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except ValidationError:
            lock = lock_of(self.request)
            if lock is None:
                raise
            raise ValidationError(
                _("Too many failed sign-in attempts. Try again in %(minutes)s min."),
                code="locked",
                params={"minutes": lock.minutes_left()},
            ) from None
