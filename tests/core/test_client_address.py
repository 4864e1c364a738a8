"""The client's address comes from REMOTE_ADDR only (the web server sets it from forwarding
headers for trusted proxies alone), and what is not an IP address is recorded as none."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from kassa.core.actors import Actor, client_address
from kassa.core.models import ApiKey, AuditLogEntry
from kassa.core.services import create_api_key
from tests.conftest import make_org, staff_client


@pytest.mark.parametrize(
    ("remote_addr", "expected"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("", None),
        ("unknown", None),
        ("203.0.113.5, 10.0.0.1", None),
    ],
)
def test_client_address_is_remote_addr_when_it_is_an_ip_address(
    remote_addr: str, expected: str | None
) -> None:
    request = RequestFactory().get(
        "/", REMOTE_ADDR=remote_addr, HTTP_X_FORWARDED_FOR="198.51.100.99"
    )
    assert client_address(request) == expected
    assert client_address(None) is None


@pytest.mark.django_db
def test_a_staff_action_from_an_address_that_is_no_ip_is_audited_without_one() -> None:
    org = make_org()
    key = create_api_key(org, actor=Actor.system("test")).key
    admin = staff_client(org, "owner", "owner@x.test")
    admin.defaults["REMOTE_ADDR"] = "unix:/run/kassa.sock"
    done = admin.post(
        "/admin/core/apikey/",
        {
            "action": "revoke_keys",
            "_selected_action": [key.pk],
            "confirm": "1",
            "reason": "rotated",
        },
    )
    assert done.status_code == 302
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert AuditLogEntry.objects.get(action="api_key.revoked").ip_address is None
