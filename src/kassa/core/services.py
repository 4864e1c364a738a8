"""Writes to organizations, staff memberships and API keys.

Services own `transaction.atomic`; callers (API, admin, CLI) never write these models.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from kassa.core import audit
from kassa.core.actors import Actor
from kassa.core.errors import InvalidRequest, StateConflict
from kassa.core.models import ApiKey, ApiKeyMode, Membership, Organization, Role
from kassa.core.money import normalize_currency
from kassa.core.validation import validate_email, validate_locale, validate_timezone
from kassa.platform.hotcache import HotCache

_KEY_ALPHABET = string.ascii_letters + string.digits
_KEY_BODY_LENGTH = 32
# last_used_at is advisory; writing it on every request would turn every read into a write.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_key(raw: str) -> str:
    # Keys carry 190 bits of entropy, so a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_api_key(mode: str) -> str:
    body = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(_KEY_BODY_LENGTH))
    return f"sk_{mode}_{body}"


def create_organization(
    *,
    name: str,
    actor: Actor,
    currency: str = "UZS",
    timezone_name: str = "Asia/Tashkent",
    locale: str = "ru",
    **legal: Any,
) -> Organization:
    name = name.strip()
    if not name:
        raise InvalidRequest("An organization needs a name.", param="name")
    org = Organization(
        name=name[:200],
        default_currency=normalize_currency(currency),
        timezone=validate_timezone(timezone_name),
        locale=validate_locale(locale),
        **legal,
    )
    with transaction.atomic():
        org.save()
        audit.record(
            actor=actor,
            action="organization.created",
            organization_id=org.id,
            obj=org,
            after={"name": org.name, "currency": org.default_currency},
        )
    return org


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once, never stored


def create_api_key(
    organization: Organization,
    *,
    actor: Actor,
    mode: str = ApiKeyMode.TEST,
    name: str = "",
    secret: str | None = None,
    created_by: User | None = None,
) -> IssuedKey:
    if mode not in ApiKeyMode.values:
        raise InvalidRequest("API key mode must be test or live.", param="mode")
    raw = secret or generate_api_key(mode)
    with transaction.atomic():
        key = ApiKey.objects.create(
            organization=organization,
            name=name[:100],
            mode=mode,
            prefix=raw[:12],
            key_hash=hash_api_key(raw),
            created_by=created_by,
        )
        audit.record(
            actor=actor,
            action="api_key.created",
            organization_id=organization.id,
            obj=key,
            after={"prefix": key.prefix, "mode": mode, "name": key.name},
        )
    return IssuedKey(key=key, secret=raw)


def revoke_api_key(key: ApiKey, *, actor: Actor, reason: str = "") -> ApiKey:
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=key.pk)
        if locked.revoked_at is not None:
            raise StateConflict("This API key is already revoked.")
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit.record(
            actor=actor,
            action="api_key.revoked",
            organization_id=locked.organization_id,
            obj=locked,
            reason=reason,
            before={"revoked_at": None},
            after={"revoked_at": locked.revoked_at.isoformat()},
        )
    return locked


# Active keys by hash, with their organization (kassa.platform.hotcache; cleared by every save of
# a key or an organization). The instances are shared: callers read them, never change them.
_API_KEYS: HotCache[str, ApiKey] = HotCache("api_keys")


def authenticate_api_key(raw: str) -> ApiKey | None:
    """The active key for this secret, or None. Touches `last_used_at` at most once a minute."""
    if not raw.startswith(("sk_test_", "sk_live_")) or len(raw) > 100:
        return None
    digest = hash_api_key(raw)
    key = _API_KEYS.get(
        digest,
        lambda: (
            ApiKey.objects.select_related("organization")
            .filter(key_hash=digest, revoked_at__isnull=True)
            .first()
        ),
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).touch(last_used_at=now)
        key.last_used_at = now
    return key


def add_staff_member(
    organization: Organization,
    *,
    email: str,
    role: str,
    actor: Actor,
    password: str | None = None,
) -> Membership:
    """Give `email` (a user, created if missing) `role` in `organization`. A password, when
    given, must pass the project's password rules (`AUTH_PASSWORD_VALIDATORS`, the same the
    admin's password forms apply): `InvalidRequest` with the validators' messages otherwise,
    and nothing is written. Without one a new user has no usable password."""
    if role not in Role.values:
        raise InvalidRequest(f"Role must be one of {', '.join(Role.values)}.", param="role")
    email = validate_email(email)
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model.objects.filter(username=email).first()
        if password is not None:
            _check_password(password, user or user_model(username=email, email=email))
        if user is None:
            user = user_model.objects.create_user(username=email, email=email, password=password)
        elif password:
            user.set_password(password)
        user.is_staff = True
        user.save()
        membership, _ = Membership.objects.update_or_create(
            user=user, organization=organization, defaults={"role": role}
        )
        audit.record(
            actor=actor,
            action="staff.role_set",
            organization_id=organization.id,
            obj=membership,
            after={"user": email, "role": role},
        )
    return membership


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise InvalidRequest(" ".join(exc.messages), param="password") from None


ORGANIZATION_EDITABLE = (
    "name",
    "default_currency",
    "timezone",
    "locale",
    "legal_name",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "vat_id",
    "tax_number",
    "email",
    "phone",
)


def update_organization(
    organization: Organization, changes: dict[str, Any], *, actor: Actor
) -> Organization:
    unknown = set(changes) - set(ORGANIZATION_EDITABLE)
    if unknown:
        raise InvalidRequest(f"Cannot change {', '.join(sorted(unknown))}.")
    if "default_currency" in changes:
        changes["default_currency"] = normalize_currency(changes["default_currency"])
    if "timezone" in changes:
        validate_timezone(changes["timezone"])
    if "locale" in changes:
        changes["locale"] = validate_locale(changes["locale"])
    with transaction.atomic():
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        before = {name: getattr(locked, name) for name in changes}
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(changes) or None)
        audit.record(
            actor=actor,
            action="organization.updated",
            organization_id=locked.id,
            obj=locked,
            before=before,
            after=changes,
        )
    return locked
