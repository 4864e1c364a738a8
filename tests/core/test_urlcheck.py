"""The SSRF guard for URLs Kassa calls on a merchant's behalf."""

from __future__ import annotations

import ipaddress

import pytest
from django.test import override_settings

from kassa.core.errors import InvalidRequest
from kassa.core.urlcheck import check_webhook_url, is_public_address, public_addresses

PUBLIC = "https://93.184.216.34/hooks"


def refused(url: str, *, live_mode: bool = False) -> str:
    with pytest.raises(InvalidRequest) as info:
        check_webhook_url(url, live_mode=live_mode)
    assert info.value.param == "url"
    return info.value.message


@override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=False)
def test_public_https_url_is_accepted_in_both_modes() -> None:
    check_webhook_url(PUBLIC, live_mode=True)
    check_webhook_url(PUBLIC, live_mode=False)
    check_webhook_url("http://93.184.216.34:8080/x", live_mode=False)


@override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=False)
def test_live_mode_needs_https() -> None:
    assert "https" in refused("http://93.184.216.34/hooks", live_mode=True)


@override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=False)
@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://localhost/x",
        "https://10.1.2.3/x",
        "https://172.16.0.1/x",
        "https://192.168.1.1/x",
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://100.64.0.1/x",  # carrier-grade NAT
        "https://0.0.0.0/x",
        "https://[::1]/x",
        "https://[fe80::1]/x",
        "https://[fd00::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://[64:ff9b::a00:1]/x",  # NAT64 of 10.0.0.1
        "https://224.0.0.1/x",
        "https://240.0.0.1/x",
    ],
)
def test_private_loopback_link_local_and_reserved_hosts_are_refused(url: str) -> None:
    message = refused(url)
    assert "public addresses" in message
    # The refusal says how a developer reaches a receiver on their own machine.
    assert "KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=1" in message


@override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=False)
@pytest.mark.parametrize(
    "url",
    ["", "ftp://93.184.216.34/x", "file:///etc/passwd", "https:///nohost", "https://[::1/x"],
)
def test_malformed_urls_are_refused(url: str) -> None:
    refused(url)


@override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=False)
def test_a_host_that_does_not_resolve_now_is_accepted() -> None:
    # .invalid never resolves (RFC 6761), online or offline: saving must not depend on DNS.
    # Delivery resolves again and dials public addresses only.
    check_webhook_url("https://no-such-host.invalid/x", live_mode=True)
    check_webhook_url("http://erp.no-such-host.invalid:8080/kassa", live_mode=False)
    assert public_addresses("no-such-host.invalid", 443) == []


@override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=True)
def test_private_addresses_allowed_by_setting_but_https_still_required_live() -> None:
    check_webhook_url("http://127.0.0.1:9000/x", live_mode=False)
    check_webhook_url("https://localhost/x", live_mode=True)
    assert "https" in refused("http://127.0.0.1:9000/x", live_mode=True)


def test_delivery_time_resolution_refuses_private_addresses() -> None:
    with override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=False):
        assert public_addresses("127.0.0.1", 443) == []
        assert public_addresses("93.184.216.34", 443) == [ipaddress.ip_address("93.184.216.34")]
    with override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=True):
        assert public_addresses("127.0.0.1", 443) == [ipaddress.ip_address("127.0.0.1")]


def test_is_public_address() -> None:
    assert is_public_address(ipaddress.ip_address("8.8.8.8"))
    assert is_public_address(ipaddress.ip_address("2001:4860:4860::8888"))
    assert not is_public_address(ipaddress.ip_address("::ffff:10.0.0.1"))
    assert not is_public_address(ipaddress.ip_address("2002:0a00:0001::1"))  # 6to4 of 10.0.0.1
