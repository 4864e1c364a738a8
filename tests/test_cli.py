"""The `kassa` command, run as a subprocess against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from django.db import connection

from kassa.core.models import ApiKey, Organization
from kassa.ledger import services as ledger
from tests.conftest import make_org


def kassa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{settings['NAME']}"
    else:
        url = (
            f"postgresql://{settings['USER']}:{settings['PASSWORD']}@{settings['HOST'] or 'localhost'}"
            f":{settings['PORT'] or 5432}/{settings['NAME']}"
        )
    full_env = {**os.environ, "KASSA_DATABASE_URL": url, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "kassa", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_explains_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kassa", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("serve", "worker", "scheduler", "migrate", "ledger", "org", "demo"):
        assert command in result.stdout
    verify_help = subprocess.run(
        [sys.executable, "-m", "kassa", "ledger", "verify", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "exits with status 1" in verify_help.stdout


@pytest.mark.django_db(transaction=True)
def test_org_create_json() -> None:
    result = kassa(
        "org",
        "create",
        "--name",
        "Samarkand Travel",
        "--currency",
        "UZS",
        "--timezone",
        "Asia/Tashkent",
        "--locale",
        "ru",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["id"].startswith("org_") and data["api_key"].startswith("sk_test_")
    org = Organization.objects.get(pk=data["id"])
    assert (org.name, org.default_currency, org.timezone, org.locale) == (
        "Samarkand Travel",
        "UZS",
        "Asia/Tashkent",
        "ru",
    )
    assert ApiKey.objects.filter(organization=org, mode="test").count() == 1
    from django.test import Client

    listing = Client().get("/v1/customers", headers={"Authorization": f"Bearer {data['api_key']}"})
    assert listing.status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--currency", "ZZZ"], "Unknown currency"),
        (["--timezone", "Mars/Base"], "Unknown time zone"),
        (["--locale", "fr"], "Unsupported locale"),
    ],
)
def test_org_create_refuses_bad_input(args: list[str], message: str) -> None:
    result = kassa("org", "create", "--name", "X", *args, "--json")
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert Organization.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_ledger_verify_clean_and_corrupted() -> None:
    org = make_org()
    a = ledger.get_or_create_account(org.id, kind="external", currency="UZS")
    b = ledger.get_or_create_account(
        org.id, kind="wallet", currency="UZS", owner_id="w", min_balance=0
    )
    for i in range(5):
        ledger.post(
            org.id,
            ledger.transfer(kind="t", idempotency_key=f"k{i}", source=a, destination=b, amount=100),
        )
    clean = kassa("ledger", "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "consistent" in clean.stdout

    # Corrupt it the two ways a broken writer could: a cached balance and a one-legged entry.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_account SET balance = balance + 7 WHERE id = %s", [b.pk])
        cursor.execute(
            "INSERT INTO ledger_entry (transaction_id, account_id, amount, currency, balance_after, created_at)"
            " SELECT MIN(id), %s, 3, 'UZS', 0, CURRENT_TIMESTAMP FROM ledger_transaction",
            [a.pk],
        )
    broken = kassa("ledger", "verify", "--json")
    assert broken.returncode == 1
    report: dict[str, Any] = json.loads(broken.stdout)
    kinds = sorted(p["kind"] for p in report["problems"])
    assert kinds == ["account_balance", "account_balance", "transaction_sum"]

    # The tables have no foreign keys: an entry pointing nowhere, or across organizations,
    # is reported too.
    other = make_org("Other")
    foreign = ledger.get_or_create_account(other.id, kind="external", currency="UZS")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_entry (transaction_id, account_id, amount, currency, balance_after, created_at)"
            " SELECT MIN(id), %s, 0, 'UZS', 0, CURRENT_TIMESTAMP FROM ledger_transaction",
            [10**9],
        )
        cursor.execute(
            "INSERT INTO ledger_entry (transaction_id, account_id, amount, currency, balance_after, created_at)"
            " SELECT MAX(id), %s, 0, 'UZS', 0, CURRENT_TIMESTAMP FROM ledger_transaction",
            [foreign.pk],
        )
    report = json.loads(kassa("ledger", "verify", "--json").stdout)
    details = sorted(p["detail"] for p in report["problems"] if p["kind"] == "entry_reference")
    assert details == [
        f"no account {10**9}",
        f"transaction of {org.id} on an account of {other.id}",
    ]
    human = kassa("ledger", "verify")
    assert human.returncode == 1 and "problem" in human.stdout


@pytest.mark.django_db(transaction=True)
def test_demo_is_idempotent() -> None:
    first = kassa("demo", "--json")
    assert first.returncode == 0, first.stderr
    second = kassa("demo", "--json")
    assert json.loads(first.stdout) == json.loads(second.stdout)
    assert Organization.objects.count() == 1
    info = json.loads(first.stdout)
    from django.test import Client

    client = Client()
    assert client.get(
        "/v1/customers", headers={"Authorization": f"Bearer {info['api_key']}"}
    ).json()["data"]
    assert client.login(username=info["staff"]["email"], password=info["staff"]["password"])
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["Caf\udce9", "a\udcffb"])
def test_text_that_cannot_be_stored_is_refused(name: str) -> None:
    # Bytes that are not UTF-8 (here Latin-1 "é", 0xff) reach argv as lone surrogates.
    result = kassa("org", "create", "--name", name, "--json")
    assert result.returncode == 2, result.stderr
    assert "--name" in result.stderr and "Traceback" not in result.stderr
    assert Organization.objects.count() == 0
