"""The hot caches (API keys, gateway accounts, webhook endpoints) answer without a query and
never outlive a change: cleared at once in the changing process, through NOTIFY in the others,
and after KASSA_CACHE_SECONDS whatever happens."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kassa.core.actors import Actor
from kassa.core.models import ApiKey, Organization
from kassa.core.services import IssuedKey, authenticate_api_key, revoke_api_key
from kassa.platform import hotcache
from tests.asgi_server import database_url

ROOT = Path(__file__).resolve().parents[2]


def _ready() -> None:
    # Changes notified before (the fixtures' own saves) must not clear the caches mid-test.
    assert hotcache.wait_for_notifications()


def _queries(fn: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_a_known_key_is_answered_without_a_query(api_key: IssuedKey) -> None:
    _ready()
    assert authenticate_api_key(api_key.secret) is not None
    assert _queries(lambda: authenticate_api_key(api_key.secret)) == 0


@pytest.mark.django_db(transaction=True)
def test_revoking_a_key_takes_effect_at_once_in_this_process(api_key: IssuedKey) -> None:
    _ready()
    key = authenticate_api_key(api_key.secret)
    assert key is not None
    revoke_api_key(key, actor=Actor.system("test"))
    assert authenticate_api_key(api_key.secret) is None


@pytest.mark.django_db(transaction=True)
def test_saving_the_organization_refreshes_the_cached_key(api_key: IssuedKey) -> None:
    _ready()
    key = authenticate_api_key(api_key.secret)
    assert key is not None
    org = Organization.objects.get(pk=key.organization_id)
    org.name = "Renamed"
    org.save()
    again = authenticate_api_key(api_key.secret)
    assert again is not None and again.organization.name == "Renamed"


@pytest.mark.django_db(transaction=True)
def test_entries_expire_after_the_configured_seconds(api_key: IssuedKey, settings: Any) -> None:
    _ready()
    settings.KASSA_CACHE_SECONDS = 5
    assert authenticate_api_key(api_key.secret) is not None
    # Changed behind the cache's back (plain SQL: no signal, no queryset), as a process
    # without a listener would see it.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE core_apikey SET revoked_at = %s WHERE id = %s",
            ["2026-01-01T00:00Z", api_key.key.pk],
        )
    assert authenticate_api_key(api_key.secret) is not None
    later = time.monotonic() + 6
    with mock.patch("kassa.platform.hotcache.time.monotonic", return_value=later):
        assert authenticate_api_key(api_key.secret) is None


@pytest.mark.django_db(transaction=True)
def test_a_value_loaded_while_it_changed_is_not_kept(api_key: IssuedKey) -> None:
    _ready()
    cache: hotcache.HotCache[str, str] = hotcache.HotCache("test_race")

    def load() -> str:
        hotcache.changed("test_race")  # a change lands while the old value is being read
        return "stale"

    try:
        assert cache.get("k", load) == "stale"
        assert cache.get("k", lambda: "fresh") == "fresh"
    finally:
        hotcache._caches.pop("test_race")


@pytest.mark.django_db(transaction=True)
def test_zero_seconds_turns_the_caches_off(api_key: IssuedKey, settings: Any) -> None:
    _ready()
    settings.KASSA_CACHE_SECONDS = 0
    authenticate_api_key(api_key.secret)
    assert _queries(lambda: authenticate_api_key(api_key.secret)) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_a_listener_the_caches_are_bypassed(api_key: IssuedKey) -> None:
    _ready()
    authenticate_api_key(api_key.secret)
    hotcache.stop_listener()
    with mock.patch("kassa.platform.hotcache.start_listener"):
        assert _queries(lambda: authenticate_api_key(api_key.secret)) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_key_revoked_by_another_process_is_refused_here(
    api_key: IssuedKey, settings: Any, tmp_path: Path
) -> None:
    settings.KASSA_CACHE_SECONDS = 300  # only the notification can explain a refusal below
    _ready()
    assert authenticate_api_key(api_key.secret) is not None
    script = (
        "import django; django.setup();"
        "from kassa.core.actors import Actor;"
        "from kassa.core.models import ApiKey;"
        "from kassa.core.services import revoke_api_key;"
        f"revoke_api_key(ApiKey.objects.get(pk={api_key.key.pk!r}), actor=Actor.system('t'))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kassa.settings",
        "KASSA_DATABASE_URL": database_url(settings),
        "KASSA_SECRET_KEY": settings.SECRET_KEY,
        "KASSA_DATA_DIR": str(tmp_path),
    }
    subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True, timeout=60)
    deadline = time.monotonic() + 20
    while authenticate_api_key(api_key.secret) is not None:
        assert time.monotonic() < deadline, "the other process's revocation never arrived"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_a_queryset_update_of_api_keys_clears_the_cache(api_key: IssuedKey, settings: Any) -> None:
    settings.KASSA_CACHE_SECONDS = 300  # only the update can explain a refusal below
    _ready()
    assert authenticate_api_key(api_key.secret) is not None
    ApiKey.objects.filter(pk=api_key.key.pk).update(revoked_at="2026-01-01T00:00Z")
    assert authenticate_api_key(api_key.secret) is None


@pytest.mark.django_db(transaction=True)
def test_a_queryset_update_of_webhook_endpoints_clears_the_cache(
    org: Organization, settings: Any
) -> None:
    from kassa.events.models import EndpointStatus, WebhookEndpoint
    from kassa.events.webhooks import _enabled_endpoints, create_endpoint

    settings.KASSA_CACHE_SECONDS = 300
    settings.KASSA_ALLOW_PRIVATE_WEBHOOK_URLS = True
    endpoint, _ = create_endpoint(
        org,
        url="http://127.0.0.1:9/hook",
        enabled_events=["*"],
        livemode=False,
        actor=Actor.system("test"),
    )
    _ready()
    assert [e.id for e in _enabled_endpoints(org.id)] == [endpoint.id]
    WebhookEndpoint.objects.filter(pk=endpoint.id).update(status=EndpointStatus.DISABLED)
    assert _enabled_endpoints(org.id) == ()


@pytest.mark.django_db(transaction=True)
def test_a_queryset_update_of_gateway_accounts_clears_the_cache(
    org: Organization, settings: Any
) -> None:
    from kassa.payments.accounts import create_gateway_account, enabled_accounts
    from kassa.payments.models import GatewayAccount

    settings.KASSA_CACHE_SECONDS = 300

    def account(name: str) -> Any:
        return create_gateway_account(
            org,
            provider="sandbox",
            test_mode=True,
            credentials={},
            name=name,
            currencies=["EUR"],
            is_default=True,
            actor=Actor.system("test"),
        )

    first = account("first")
    _ready()
    assert [(a.id, a.is_default) for a in enabled_accounts(org.id)] == [(first.id, True)]
    GatewayAccount.objects.filter(pk=first.id).update(is_default=False)
    assert [(a.id, a.is_default) for a in enabled_accounts(org.id)] == [(first.id, False)]


def test_a_cached_model_must_clear_on_bulk_writes() -> None:
    from django.core.exceptions import ImproperlyConfigured

    from kassa.customers.models import Customer  # a model with a plain manager

    with pytest.raises(ImproperlyConfigured, match="ClearingQuerySet"):
        hotcache.clear_on_change(Customer, "customers")
