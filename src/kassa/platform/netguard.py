"""Which network addresses Kassa may connect to on a merchant's behalf (SSRF guard).

A merchant must not be able to point Kassa at the machine it runs on or at its private network:
every address a host resolves to must be public. `kassa.core.urlcheck` applies this when a URL
is saved; the HTTP client (`kassa.platform.http_client`) applies it again at connect time,
because a DNS name can be re-pointed after it was accepted. `KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=1`
lifts the rule for development and tests, where receivers listen on loopback.
"""

from __future__ import annotations

import ipaddress
import socket

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Said with every refusal: the way to reach a receiver on this machine in development.
PRIVATE_ADDRESSES_HINT = (
    "To send webhooks to this machine or a private network in development, start Kassa with "
    "KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=1 (`./dev run` and `kassa serve --dev` do)."
)


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
