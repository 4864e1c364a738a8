"""`kassa staff add`: the password rules of the admin's forms apply (AUTH_PASSWORD_VALIDATORS),
run as a subprocess against the test database."""

from __future__ import annotations

import pytest

from tests.conftest import make_org
from tests.test_cli import kassa


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("password", "messages"),
    [
        ("123", ["This password is too short", "This password is too common"]),
        ("password1", ["This password is too common"]),
        ("kassa-demo-2026", ["published as Kassa's demo password"]),
    ],
)
def test_staff_add_refuses_a_password_the_admin_would_refuse(
    password: str, messages: list[str]
) -> None:
    from django.contrib.auth.models import User

    from kassa.core.models import Membership

    org = make_org()
    result = kassa(
        "staff", "add", "--org", org.id, "--email", "weak@example.com", "--password", password
    )
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith("kassa: ") and "Traceback" not in result.stderr
    for message in messages:
        assert message in result.stderr
    assert not User.objects.filter(username="weak@example.com").exists()
    assert not Membership.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_staff_add_keeps_an_existing_password_when_the_new_one_is_refused() -> None:
    from django.contrib.auth import authenticate

    org = make_org()
    args = ["staff", "add", "--org", org.id, "--email", "ops@example.com"]
    assert kassa(*args, "--password", "a-good-long-passphrase").returncode == 0
    refused = kassa(*args, "--role", "viewer", "--password", "123")
    assert refused.returncode == 2 and "too short" in refused.stderr
    assert authenticate(username="ops@example.com", password="a-good-long-passphrase")
    assert not authenticate(username="ops@example.com", password="123")
    from kassa.core.models import Membership

    assert Membership.objects.get(user__username="ops@example.com").role == "admin"
