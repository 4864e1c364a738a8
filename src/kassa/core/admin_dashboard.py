"""The admin dashboard: figures for the signed-in user's organizations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from kassa.core.admin_base import organization_ids

# Apps add cards to the dashboard: each provider returns a list of
# {"title": ..., "value": ..., "hint": ...} for the given organization ids (None: all).
CardProvider = Callable[[list[str] | None], list[dict[str, Any]]]
_providers: list[CardProvider] = []


def register_cards(provider: CardProvider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    scope = None if request.user.is_superuser else organization_ids(request)
    cards: list[dict[str, Any]] = []
    for provider in _providers:
        cards.extend(provider(scope))
    context["kassa_cards"] = cards
    return context
