"""The API's input rules for Django forms (the admin, the portal): text that can be stored,
dates in range. Django's CharField refuses NUL already; a JSON field does not (PostgreSQL's
jsonb refuses \\u0000 and a lone surrogate has no UTF-8 form), nor does any field limit a
date's year."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from kassa.core.validation import DATE_MAX, DATE_MIN, in_date_range, unstorable_path


def storable_text(value: Any) -> None:
    if unstorable_path(value, "value") is not None:
        raise ValidationError(
            _("Text may not contain NUL characters or lone surrogates."),
            code="invalid_characters",
        )


def date_in_range(value: Any) -> None:
    if isinstance(value, dt.date) and not in_date_range(value):
        raise ValidationError(
            _("Dates lie between %(low)s and %(high)s."),
            code="date_out_of_range",
            params={"low": DATE_MIN.isoformat(), "high": DATE_MAX.isoformat()},
        )


def apply_input_rules(field: forms.Field) -> forms.Field:
    """Add the rules to a form field (in place) and return it."""
    if isinstance(field, forms.DateField | forms.DateTimeField):
        field.validators.append(date_in_range)
    elif isinstance(field, forms.CharField | forms.JSONField):
        field.validators.append(storable_text)
    return field


class InputRulesFormMixin:
    """For a plain Form or ModelForm: every field gets the rules."""

    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            apply_input_rules(field)
