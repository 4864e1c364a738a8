"""Checks for URLs that Kassa will call on a merchant's behalf (webhook endpoints, customer
callbacks).

A merchant must not be able to point Kassa at the machine it runs on or at its private network
(server-side request forgery): every address the host resolves to must be public. The check runs
when the URL is saved and again at delivery time (`public_addresses`), because a DNS name can be
re-pointed after it was accepted. `KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=1` lifts the address rule for
development and tests, where receivers listen on loopback.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from kassa.core.errors import InvalidRequest

MAX_URL_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def private_addresses_allowed() -> bool:
    return bool(getattr(settings, "KASSA_ALLOW_PRIVATE_WEBHOOK_URLS", False))


def is_public_address(address: IPAddress) -> bool:
    """False for loopback, private, link-local, multicast, reserved and unspecified addresses,
    including IPv4 addresses wrapped in IPv6 (::ffff:127.0.0.1, 64:ff9b::/96 NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if address.sixtofour is not None:
            return is_public_address(address.sixtofour)
        if address in ipaddress.IPv6Network("64:ff9b::/96"):
            return is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to; an IP literal resolves to itself."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    addresses: list[IPAddress] = []
    for info in infos:
        raw = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        address = ipaddress.ip_address(raw)
        if address not in addresses:
            addresses.append(address)
    return addresses


def public_addresses(host: str, port: int) -> list[IPAddress]:
    """The addresses to connect to, or [] if any of them is not public (and that is not
    allowed). Used at delivery time against DNS rebinding."""
    addresses = resolve(host, port)
    if private_addresses_allowed():
        return addresses
    if any(not is_public_address(a) for a in addresses):
        return []
    return addresses


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
    addresses = resolve(host, port or (443 if scheme == "https" else 80))
    if not addresses:
        raise InvalidRequest(f"The host {host!r} could not be resolved.", param="url")
    if private_addresses_allowed():
        return
    for address in addresses:
        if not is_public_address(address):
            raise InvalidRequest(
                f"The host {host!r} resolves to {address}, a private, loopback, link-local or "
                "reserved address; webhooks are only sent to public addresses.",
                param="url",
            )
