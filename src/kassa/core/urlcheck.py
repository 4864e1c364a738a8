"""Checks for URLs that Kassa will call on a merchant's behalf (webhook endpoints, customer
callbacks), when they are saved. The address rule itself (public addresses only, checked again
at connect time against DNS rebinding) is `kassa.platform.netguard`; names are resolved here
only to refuse early what delivery would refuse, so a name that does not resolve is accepted.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from kassa.core.errors import InvalidRequest
from kassa.platform.netguard import (
    PRIVATE_ADDRESSES_HINT,
    IPAddress,
    is_public_address,
    private_addresses_allowed,
    public_addresses,
    resolve,
)

__all__ = [
    "MAX_URL_LENGTH",
    "PRIVATE_ADDRESSES_HINT",
    "IPAddress",
    "check_webhook_url",
    "public_addresses",
]

MAX_URL_LENGTH = 2048


def check_webhook_url(url: str, *, live_mode: bool) -> None:
    """Raise `InvalidRequest` (param "url") unless Kassa may send requests to `url`."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidRequest("A URL is required.", param="url")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidRequest(f"The URL is longer than {MAX_URL_LENGTH} characters.", param="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidRequest(f"{url!r} is not a valid URL.", param="url") from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise InvalidRequest(
            "The URL must start with https:// (or http:// in test mode).", param="url"
        )
    if live_mode and scheme != "https":
        raise InvalidRequest("Live-mode webhook URLs must use https://.", param="url")
    host = parts.hostname
    if not host:
        raise InvalidRequest(f"{url!r} has no host name.", param="url")
    if parts.fragment:
        raise InvalidRequest("The URL must not contain a fragment (#...).", param="url")
    if private_addresses_allowed():
        return
    # A name that does not resolve now is accepted: DNS may be offline (a laptop on a train)
    # or the record not created yet. Nothing is sent to it until it resolves, and the HTTP
    # client checks every address it dials (kassa.platform.http_client), so this check only
    # refuses early what would be refused at delivery anyway.
    for address in resolve(host, port or (443 if scheme == "https" else 80)):
        if not is_public_address(address):
            raise InvalidRequest(
                f"The host {host!r} resolves to {address}, a private, loopback, link-local or "
                "reserved address; webhooks are only sent to public addresses. "
                f"{PRIVATE_ADDRESSES_HINT}",
                param="url",
            )
