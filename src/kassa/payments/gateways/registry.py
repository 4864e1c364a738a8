"""Which connector serves which provider, and how a gateway account becomes a connector."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from django.conf import settings

from kassa.core.errors import InvalidRequest
from kassa.payments.gateways.base import AccountConfig, Gateway

if TYPE_CHECKING:
    from kassa.payments.models import GatewayAccount

# Connector modules; each defines a Gateway subclass and registers it on import.
CONNECTORS = (
    "kassa.payments.gateways.sandbox.connector",
    "kassa.payments.gateways.stripe.connector",
    "kassa.payments.gateways.payme.connector",
    "kassa.payments.gateways.click.connector",
    "kassa.payments.gateways.octo.connector",
)

_classes: dict[str, type[Gateway]] = {}


def register(cls: type[Gateway]) -> type[Gateway]:
    _classes[cls.provider] = cls
    return cls


def load_connectors() -> None:
    for module in CONNECTORS:
        try:
            import_module(module)
        except ModuleNotFoundError as exc:
            # A gateway that was removed (its package or its connector module) is skipped; any
            # other import failing inside a connector is a bug.
            if exc.name not in (module, module.rpartition(".")[0]):
                raise


def gateway_class(provider: str) -> type[Gateway]:
    if not _classes:
        load_connectors()
    try:
        return _classes[provider]
    except KeyError:
        raise InvalidRequest(
            f"Unknown provider {provider!r}; use one of {', '.join(sorted(_classes))}.",
            param="provider",
        ) from None


def available_providers() -> list[str]:
    if not _classes:
        load_connectors()
    return sorted(_classes)


def gateway_for(account: GatewayAccount) -> Gateway:
    cls = gateway_class(account.provider)
    return cls(
        AccountConfig(
            id=account.id,
            organization_id=account.organization_id,
            provider=account.provider,
            test_mode=account.test_mode,
            credentials=account.credentials,
            options=dict(account.options),
            base_url=settings.KASSA_BASE_URL,
            enabled=account.enabled,
        )
    )
