"""The API contract every resource relies on, shown on /v1/customers."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from django.db import close_old_connections

from kassa.core import services
from kassa.core.models import IdempotencyRecord
from kassa.customers import services as customer_services
from kassa.customers.models import Customer
from tests.conftest import ApiClient, assert_error, make_org

pytestmark = pytest.mark.django_db


def test_missing_and_wrong_keys_are_401(api: ApiClient, client: Any) -> None:
    assert_error(client.get("/v1/customers"), 401, "invalid_api_key")
    assert_error(
        client.get("/v1/customers", headers={"Authorization": "Bearer sk_test_nope"}),
        401,
        "invalid_api_key",
    )
    assert_error(
        client.get("/v1/customers", headers={"Authorization": "Basic abc"}), 401, "invalid_api_key"
    )
    assert api.get("/v1/customers").status_code == 200


def test_revoked_key_is_401(org: Any, make_api: Any) -> None:
    from kassa.core.actors import Actor
    from kassa.core.models import ApiKey

    client = make_api(org)
    assert client.get("/v1/customers").status_code == 200
    key = ApiKey.objects.get(prefix=client.secret[:12])
    services.revoke_api_key(key, actor=Actor.system("test"), reason="leaked")
    assert_error(client.get("/v1/customers"), 401, "invalid_api_key")


def test_key_last_used_is_recorded(org: Any, make_api: Any) -> None:
    from kassa.core.models import ApiKey

    client = make_api(org)
    key = ApiKey.objects.get(prefix=client.secret[:12])
    assert key.last_used_at is None and len(key.key_hash) == 64
    assert client.secret not in {key.key_hash, key.prefix}
    client.get("/v1/customers")
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_malformed_json_and_unknown_paths(api: ApiClient) -> None:
    response = api.client.post(
        "/v1/customers",
        "{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.secret}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert_error(api.get("/v1/no_such_thing"), 404, "resource_missing")
    assert_error(api.get("/v1/customers/cus_doesnotexist"), 404, "resource_missing")


def test_request_body_size_limit(api: ApiClient) -> None:
    big = {"name": "x", "metadata": {"k": "v" * 400}, "pad": "y" * (1024 * 1024 + 10)}
    assert_error(api.post("/v1/customers", big), 413, "request_too_large")
    assert Customer.objects.count() == 0


def test_security_headers(api: ApiClient) -> None:
    response = api.get("/v1/customers")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "same-origin"


def test_openapi_and_docs(client: Any) -> None:
    schema = client.get("/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    assert "/v1/customers" in schema["paths"]
    assert client.get("/v1/docs").status_code == 200


def test_health_probes(client: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


def test_cursor_pagination(api: ApiClient) -> None:
    ids = [api.post("/v1/customers", {"name": f"c{i}"}).json()["id"] for i in range(7)]
    newest_first = list(reversed(ids))
    page = api.get("/v1/customers", limit=3).json()
    assert [c["id"] for c in page["data"]] == newest_first[:3] and page["has_more"]
    page = api.get("/v1/customers", limit=3, starting_after=page["data"][-1]["id"]).json()
    assert [c["id"] for c in page["data"]] == newest_first[3:6] and page["has_more"]
    page = api.get("/v1/customers", limit=3, starting_after=page["data"][-1]["id"]).json()
    assert [c["id"] for c in page["data"]] == newest_first[6:] and not page["has_more"]
    assert len(api.get("/v1/customers").json()["data"]) == 7
    assert_error(api.get("/v1/customers", limit=0), 422, "parameter_out_of_range", "limit")
    assert_error(api.get("/v1/customers", limit=101), 422, "parameter_out_of_range", "limit")
    assert_error(
        api.get("/v1/customers", starting_after="pay_x"),
        400,
        "invalid_starting_after",
        "starting_after",
    )


def test_idempotent_replay_and_reuse(api: ApiClient) -> None:
    first = api.post("/v1/customers", {"name": "Once"}, idempotency_key="key-1")
    again = api.post("/v1/customers", {"name": "Once"}, idempotency_key="key-1")
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert again.json() == first.json()
    assert Customer.objects.count() == 1
    assert_error(
        api.post("/v1/customers", {"name": "Twice"}, idempotency_key="key-1"),
        400,
        "idempotency_key_reused",
    )
    # A stored business error replays too.
    bad = api.post("/v1/customers", {"email": "nope"}, idempotency_key="key-2")
    again_bad = api.post("/v1/customers", {"email": "nope"}, idempotency_key="key-2")
    assert bad.status_code == again_bad.status_code == 400
    assert again_bad["Idempotent-Replayed"] == "true"
    # A schema error is not stored: the client can fix the body and retry with the key.
    assert api.post("/v1/customers", {"name": 5}, idempotency_key="key-3").status_code == 422
    assert api.post("/v1/customers", {"name": "fixed"}, idempotency_key="key-3").status_code == 200
    assert Customer.objects.count() == 2


def test_idempotency_keys_are_per_organization(api: ApiClient, make_api: Any) -> None:
    other = make_api(make_org("Other"))
    a = api.post("/v1/customers", {"name": "A"}, idempotency_key="shared").json()
    b = other.post("/v1/customers", {"name": "A"}, idempotency_key="shared").json()
    assert a["id"] != b["id"]


def test_expired_keys_are_pruned(api: ApiClient, tasks: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from kassa.core.tasks import prune_idempotency_keys

    api.post("/v1/customers", {"name": "Old"}, idempotency_key="old")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    prune_idempotency_keys.enqueue()
    tasks()
    assert IdempotencyRecord.objects.count() == 0
    replay = api.post("/v1/customers", {"name": "Old"}, idempotency_key="old")
    assert "Idempotent-Replayed" not in replay
    assert Customer.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_one_object(
    monkeypatch: pytest.MonkeyPatch, make_api: Any
) -> None:
    api = make_api(make_org())
    original = customer_services.create_customer

    def slow_create(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.5)  # hold the key while the second request arrives
        return original(*args, **kwargs)

    monkeypatch.setattr(customer_services, "create_customer", slow_create)
    start = threading.Barrier(2)
    responses: list[Any] = []

    def call() -> None:
        try:
            start.wait()
            responses.append(api.post("/v1/customers", {"name": "Race"}, idempotency_key="race"))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409], [r.content for r in responses]
    conflict = next(r for r in responses if r.status_code == 409)
    assert json.loads(conflict.content)["error"]["code"] == "idempotency_key_in_use"
    assert Customer.objects.count() == 1
    # Once the first finished, a retry replays it.
    replay = api.post("/v1/customers", {"name": "Race"}, idempotency_key="race")
    assert replay["Idempotent-Replayed"] == "true"
    assert Customer.objects.count() == 1


def test_stale_claim_is_taken_over(api: ApiClient) -> None:
    from datetime import timedelta

    from django.utils import timezone

    org_id = Customer.objects.none().model._meta  # noqa: F841 - keep import use simple
    first = api.post("/v1/customers", {"name": "Crash"}, idempotency_key="crash")
    record = IdempotencyRecord.objects.get(key="crash")
    # Simulate a process that claimed the key and died before answering.
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status="in_progress", locked_until=timezone.now() - timedelta(seconds=1)
    )
    retried = api.post("/v1/customers", {"name": "Crash"}, idempotency_key="crash")
    assert retried.status_code == 200 and first.status_code == 200
    assert "Idempotent-Replayed" not in retried
