"""Gateway accounts: creation, update, disabling. Credentials are validated by the provider's
connector and stored encrypted; the API only ever shows them masked."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from kassa.core import audit
from kassa.core.actors import Actor
from kassa.core.errors import InvalidRequest
from kassa.core.models import Organization
from kassa.core.money import normalize_currency
from kassa.payments.gateways.registry import gateway_class
from kassa.payments.models import GatewayAccount
from kassa.platform.hotcache import HotCache

# kassa.platform.hotcache; cleared by every save or delete of a gateway account. The instances are
# shared between requests: read them, never change them (updates lock and reload the row).
_ENABLED: HotCache[str, tuple[GatewayAccount, ...]] = HotCache("gateway_accounts")
_BY_ID: HotCache[str, GatewayAccount] = HotCache("gateway_accounts_by_id")


def enabled_accounts(organization_id: str) -> tuple[GatewayAccount, ...]:
    """The organization's enabled gateway accounts, defaults first, then the oldest first."""
    found = _ENABLED.get(
        organization_id,
        lambda: tuple(
            GatewayAccount.objects.filter(
                organization_id=organization_id, status=GatewayAccount.Status.ENABLED
            ).order_by("-is_default", "created_at")
        ),
    )
    return found or ()


def account_by_id(account_id: str) -> GatewayAccount | None:
    """The gateway account with this id (any organization, any status), or None."""
    return _BY_ID.get(account_id, lambda: GatewayAccount.objects.filter(pk=account_id).first())


def _currencies(values: Any, provider_currencies: tuple[str, ...] | None) -> list[str]:
    if values is None:
        return list(provider_currencies or [])
    if not isinstance(values, list) or not values:
        raise InvalidRequest(
            "currencies must be a non-empty list of ISO 4217 codes.", param="currencies"
        )
    clean = sorted({normalize_currency(v, param="currencies") for v in values})
    if provider_currencies is not None:
        unsupported = [c for c in clean if c not in provider_currencies]
        if unsupported:
            raise InvalidRequest(
                f"This provider does not accept {', '.join(unsupported)}.", param="currencies"
            )
    return clean


def create_gateway_account(
    organization: Organization,
    *,
    provider: str,
    test_mode: bool,
    credentials: dict[str, Any],
    options: dict[str, Any] | None = None,
    name: str = "",
    currencies: list[str] | None = None,
    is_default: bool = False,
    actor: Actor,
) -> GatewayAccount:
    cls = gateway_class(provider)
    if cls.test_only and not test_mode:
        raise InvalidRequest(f"{cls.display_name} accounts are test mode only.", param="test_mode")
    clean_credentials, clean_options = cls.validate_config(credentials or {}, options or {})
    cls.check_mode(clean_credentials, bool(test_mode))
    account = GatewayAccount(
        organization=organization,
        provider=provider,
        test_mode=bool(test_mode),
        name=(name or "")[:100],
        currencies=_currencies(currencies, cls.capabilities.currencies),
        options=clean_options,
        is_default=is_default,
    )
    account.set_credentials(clean_credentials)
    with transaction.atomic():
        if is_default:
            _clear_other_defaults(account)
        account.save()
        audit.record(
            actor=actor,
            action="gateway_account.created",
            organization_id=organization.id,
            obj=account,
            after={
                "provider": provider,
                "test_mode": account.test_mode,
                "currencies": account.currencies,
            },
        )
    return account


def update_gateway_account(
    account: GatewayAccount, changes: dict[str, Any], *, actor: Actor
) -> GatewayAccount:
    cls = gateway_class(account.provider)
    with transaction.atomic():
        locked = GatewayAccount.objects.select_for_update().get(pk=account.pk)
        before: dict[str, Any] = {}
        if "credentials" in changes or "options" in changes:
            merged = {**locked.credentials, **(changes.get("credentials") or {})}
            options = {**locked.options, **(changes.get("options") or {})}
            clean_credentials, clean_options = cls.validate_config(merged, options)
            cls.check_mode(clean_credentials, locked.test_mode)
            locked.set_credentials(clean_credentials)
            before["options"] = locked.options
            locked.options = clean_options
        if changes.get("name") is not None:
            before["name"] = locked.name
            locked.name = str(changes["name"])[:100]
        if changes.get("currencies") is not None:
            before["currencies"] = locked.currencies
            locked.currencies = _currencies(changes["currencies"], cls.capabilities.currencies)
        if changes.get("default") is not None:
            before["default"] = locked.is_default
            locked.is_default = bool(changes["default"])
            if locked.is_default:
                _clear_other_defaults(locked)
        if changes.get("status") is not None:
            if changes["status"] not in GatewayAccount.Status.values:
                raise InvalidRequest("status must be enabled or disabled.", param="status")
            before["status"] = locked.status
            locked.status = changes["status"]
        locked.updated_at = timezone.now()
        locked.save()
        audit.record(
            actor=actor,
            action="gateway_account.updated",
            organization_id=locked.organization_id,
            obj=locked,
            before=before,
            after={k: v for k, v in changes.items() if k != "credentials"}
            | ({"credentials": "changed"} if "credentials" in changes else {}),
        )
    return locked


def disable_gateway_account(account: GatewayAccount, *, actor: Actor) -> GatewayAccount:
    return update_gateway_account(account, {"status": GatewayAccount.Status.DISABLED}, actor=actor)


def _clear_other_defaults(account: GatewayAccount) -> None:
    GatewayAccount.objects.filter(
        organization_id=account.organization_id, test_mode=account.test_mode, is_default=True
    ).exclude(pk=account.pk).update(is_default=False)
