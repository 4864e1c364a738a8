"""Who is acting: a staff user, an API key, a customer or the system itself."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kassa.core.models import ActorType

if TYPE_CHECKING:
    from django.http import HttpRequest

    from kassa.core.models import ApiKey


@dataclass(frozen=True)
class Actor:
    type: str
    id: str = ""
    label: str = ""
    ip_address: str | None = None
    user_agent: str = ""

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(type=ActorType.SYSTEM, label=label)

    @classmethod
    def for_api_key(cls, key: ApiKey, request: HttpRequest | None = None) -> Actor:
        ip, agent = _origin(request)
        return cls(
            type=ActorType.API_KEY,
            id=key.id,
            label=f"{key.prefix}… {key.name}".strip(),
            ip_address=ip,
            user_agent=agent,
        )

    @classmethod
    def for_staff(cls, request: HttpRequest) -> Actor:
        user = request.user
        ip, agent = _origin(request)
        return cls(
            type=ActorType.STAFF,
            id=str(user.pk),
            label=user.get_username(),
            ip_address=ip,
            user_agent=agent,
        )


def client_address(request: HttpRequest | None) -> str | None:
    """The client's IP address, or None when there is none or it is not an IP address.

    Only REMOTE_ADDR is read, never X-Forwarded-For: the web server sets REMOTE_ADDR from
    forwarding headers for the proxies in KASSA_TRUSTED_PROXIES only
    (kassa.platform.webserver). Anything that is not an address (a proxy's garbage, a Unix
    socket's peer) is None rather than a value the IP address columns would refuse."""
    raw = request.META.get("REMOTE_ADDR") if request is not None else None
    if not raw:
        return None
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def _origin(request: HttpRequest | None) -> tuple[str | None, str]:
    if request is None:
        return None, ""
    return client_address(request), request.META.get("HTTP_USER_AGENT", "")[:300]
