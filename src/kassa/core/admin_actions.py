"""Admin actions that change money or state: they ask for a reason, call a service for each
selected object with the acting staff user, and report what happened."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from kassa.core.actors import Actor
from kassa.core.errors import KassaError
from kassa.core.form_rules import InputRulesFormMixin


class ReasonForm(InputRulesFormMixin, forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=3,
        max_length=1000,
        help_text=_("Recorded in the audit log with your name."),
    )


def reason_action(
    name: str,
    *,
    description: StrOrPromise,
    service: Callable[[Any, Actor, str], Any],
    permission: str = "change",
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet[Any]], HttpResponse | None]:
    """Build an admin action that asks for a reason and calls `service(obj, actor, reason)`."""

    def action(
        modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any]
    ) -> HttpResponse | None:
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            actor = Actor.for_staff(request)
            done = 0
            for obj in queryset:
                try:
                    service(obj, actor, form.cleaned_data["reason"])
                    done += 1
                except KassaError as exc:
                    modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            if done:
                modeladmin.message_user(
                    request,
                    _("%(action)s: %(count)d done.") % {"action": description, "count": done},
                )
            return None
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "objects": queryset,
            "form": form,
            "action_name": request.POST.get("action"),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "opts": modeladmin.model._meta,
        }
        return TemplateResponse(request, "admin/kassa/reason_form.html", context)

    action.__name__ = name
    action.short_description = description  # type: ignore[attr-defined]
    action.allowed_permissions = (permission,)  # type: ignore[attr-defined]
    return action
