"""Staff sign-in locks after repeated failures, per account and per address, with a cool-off
(kassa.core.signin_throttle, docs/decisions/034-staff-sign-in-lockout.md)."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client

from kassa.core import signin_throttle
from kassa.core.actors import Actor
from kassa.core.logging import json_formatter
from kassa.core.models import AuditLogEntry, Organization, SignInFailure
from kassa.core.services import add_staff_member
from kassa.core.tasks import prune_sign_in_failures
from kassa.platform import periodic
from tests.conftest import make_org

pytestmark = pytest.mark.django_db

PASSWORD = "pw-123456-x"
LOGIN = "/admin/login/"
LOCKED = "Too many failed sign-in attempts"


def _staff(org: Organization, email: str = "finance@acme.test") -> str:
    add_staff_member(org, email=email, role="admin", password=PASSWORD, actor=Actor.system("t"))
    return email


def _sign_in(client: Client, username: str, password: str) -> tuple[bool, str]:
    """(signed in, the page's text) for one attempt through the admin's sign-in form."""
    response = client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})
    return response.status_code == 302, response.content.decode()


def _cool_off() -> None:
    """Time passes: every stored failure becomes older than the lockout's window."""
    SignInFailure.objects.update(
        created_at=F("created_at") - signin_throttle.WINDOW - timedelta(seconds=1)
    )


def test_twenty_five_wrong_passwords_then_the_right_one_is_refused() -> None:
    org = make_org()
    email = _staff(org)
    client = Client(REMOTE_ADDR="203.0.113.5")
    pages = [_sign_in(client, email, f"guess-{n}") for n in range(25)]
    assert not any(signed_in for signed_in, _ in pages)
    # The first four get the usual answer; the fifth starts the lock and says so.
    assert not any(LOCKED in text for _, text in pages[:4])
    assert all(LOCKED in text for _, text in pages[4:])
    assert re.search(r"Try again in 1[45] min\.", pages[4][1])
    signed_in, text = _sign_in(client, email, PASSWORD)
    assert not signed_in and LOCKED in text
    assert "_auth_user_id" not in client.session
    # Attempts made while locked are refused unchecked and not counted.
    assert SignInFailure.objects.count() == 5


def test_the_lock_ends_after_the_cool_off_however_much_it_was_hammered() -> None:
    org = make_org()
    email = _staff(org)
    attacker = Client(REMOTE_ADDR="203.0.113.5")
    for n in range(5 + 30):
        _sign_in(attacker, email, f"guess-{n}")
    owner = Client(REMOTE_ADDR="198.51.100.20")
    signed_in, text = _sign_in(owner, email, PASSWORD)
    assert not signed_in and LOCKED in text  # the account is locked from every address
    _cool_off()
    assert _sign_in(owner, email, PASSWORD)[0]
    # A success forgets the account's failures: the count starts again.
    assert not SignInFailure.objects.filter(username=email).exists()


def test_the_account_is_counted_whatever_the_case_of_its_name() -> None:
    org = make_org()
    email = _staff(org)
    client = Client(REMOTE_ADDR="203.0.113.5")
    for name in (
        "Finance@Acme.test",
        "FINANCE@ACME.TEST",
        " finance@acme.test",
        "finance@Acme.Test",
    ):
        _sign_in(client, name, "wrong")
    assert not _sign_in(client, email, "wrong-again")[0]
    assert LOCKED in _sign_in(client, email, PASSWORD)[1]


def test_an_address_that_tries_many_accounts_is_locked_but_others_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(signin_throttle, "ADDRESS_LIMIT", 8)  # each try hashes a password
    org = make_org()
    email = _staff(org)
    sprayer = Client(REMOTE_ADDR="203.0.113.77")
    for n in range(signin_throttle.ADDRESS_LIMIT - 1):
        assert not _sign_in(sprayer, f"user{n}@acme.test", "Summer2026!")[0]
    # One valid account does not reset the address's count ...
    assert _sign_in(sprayer, email, PASSWORD)[0]
    sprayer.logout()
    signed_in, text = _sign_in(sprayer, "user99@acme.test", "Summer2026!")
    assert not signed_in and LOCKED in text
    # ... and now even the right password of a real account is refused from that address,
    signed_in, text = _sign_in(sprayer, email, PASSWORD)
    assert not signed_in and LOCKED in text
    # while the account itself is not locked elsewhere.
    assert _sign_in(Client(REMOTE_ADDR="198.51.100.20"), email, PASSWORD)[0]


def test_a_successful_sign_in_resets_the_accounts_count() -> None:
    org = make_org()
    email = _staff(org)
    client = Client(REMOTE_ADDR="203.0.113.5")
    for _ in range(2):
        for n in range(signin_throttle.ACCOUNT_LIMIT - 1):
            assert not _sign_in(client, email, f"typo-{n}")[0]
        assert _sign_in(client, email, PASSWORD)[0]
        client.logout()


def test_the_lockout_message_is_translated() -> None:
    org = make_org()
    email = _staff(org)
    client = Client(REMOTE_ADDR="203.0.113.5", HTTP_ACCEPT_LANGUAGE="de")
    for n in range(signin_throttle.ACCOUNT_LIMIT):
        _sign_in(client, email, f"guess-{n}")
    text = _sign_in(client, email, PASSWORD)[1]
    assert "Zu viele fehlgeschlagene Anmeldeversuche" in text
    russian = Client(REMOTE_ADDR="203.0.113.5", HTTP_ACCEPT_LANGUAGE="ru")
    assert "Слишком много неудачных попыток входа" in _sign_in(russian, email, PASSWORD)[1]


def test_a_lock_is_logged_and_audited_in_the_accounts_organizations(
    caplog: pytest.LogCaptureFixture,
) -> None:
    org, other = make_org(), make_org("Samarkand Travel")
    email = _staff(org)
    add_staff_member(other, email=email, role="viewer", actor=Actor.system("t"))
    client = Client(REMOTE_ADDR="203.0.113.5", HTTP_USER_AGENT="curl/8")
    with caplog.at_level(logging.WARNING, logger="kassa.signin"):
        for n in range(signin_throttle.ACCOUNT_LIMIT + 3):
            _sign_in(client, email, f"guess-{n}")
    [record] = [r for r in caplog.records if r.name == "kassa.signin"]
    assert record.getMessage() == "staff sign-in locked"
    assert (record.username, record.ip_address, record.scope) == (  # type: ignore[attr-defined]
        email,
        "203.0.113.5",
        "account",
    )
    line = json.loads(json_formatter().format(record))
    assert line["event"] == "staff sign-in locked" and line["scope"] == "account"
    assert line["username"] == email and line["locked_until"]
    entries = AuditLogEntry.objects.filter(action="staff.sign_in_locked").order_by("organization")
    assert sorted(e.organization_id for e in entries) == sorted([org.id, other.id])
    entry = entries[0]
    assert entry.ip_address == "203.0.113.5" and entry.user_agent == "curl/8"
    assert entry.object_type == "user" and entry.after["scope"] == "account"
    assert entry.after["username"] == email


def test_an_address_lock_is_audited_without_an_organization(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(signin_throttle, "ADDRESS_LIMIT", 6)
    client = Client(REMOTE_ADDR="203.0.113.77")
    for n in range(signin_throttle.ADDRESS_LIMIT):
        _sign_in(client, f"nobody{n}@acme.test", "x")
    entry = AuditLogEntry.objects.get(action="staff.sign_in_locked")
    assert entry.organization_id is None and entry.after["scope"] == "address"
    assert entry.ip_address == "203.0.113.77"
    # No name: the one tried last is not what is locked (and may be a mistyped password).
    assert entry.after["username"] is None and entry.object_id == ""


def test_a_sign_in_without_a_request_is_locked_per_account() -> None:
    from django.contrib.auth import authenticate

    org = make_org()
    email = _staff(org)
    for n in range(signin_throttle.ACCOUNT_LIMIT):
        assert authenticate(username=email, password=f"guess-{n}") is None
    assert authenticate(username=email, password=PASSWORD) is None
    _cool_off()
    assert authenticate(username=email, password=PASSWORD) is not None


def test_the_async_sign_in_is_locked_too() -> None:
    from asgiref.sync import async_to_sync
    from django.contrib.auth import aauthenticate

    org = make_org()
    email = _staff(org)
    for n in range(signin_throttle.ACCOUNT_LIMIT):
        assert async_to_sync(aauthenticate)(username=email, password=f"guess-{n}") is None
    assert async_to_sync(aauthenticate)(username=email, password=PASSWORD) is None
    assert SignInFailure.objects.count() == signin_throttle.ACCOUNT_LIMIT


def test_old_failures_are_pruned() -> None:
    SignInFailure.objects.create(username="a@acme.test", ip_address="203.0.113.5")
    old = SignInFailure.objects.create(username="b@acme.test", ip_address=None)
    SignInFailure.objects.filter(pk=old.pk).update(
        created_at=F("created_at") - signin_throttle.KEEP - timedelta(minutes=1)
    )
    assert prune_sign_in_failures.call() == 1
    assert "core.prune_sign_in_failures" in {job.name for job in periodic.registered_jobs()}
    assert list(SignInFailure.objects.values_list("username", flat=True)) == ["a@acme.test"]


def test_a_remote_addr_that_is_no_ip_address_counts_as_none() -> None:
    org = make_org()
    email = _staff(org)
    client = Client(REMOTE_ADDR="not-an-address")
    assert not _sign_in(client, email, "wrong")[0]
    assert SignInFailure.objects.get().ip_address is None
