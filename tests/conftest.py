"""Shared fixtures. Tests run against real databases: SQLite in the first pass of
`./dev test`, PostgreSQL in the second (KASSA_TEST_PASS tells which)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client

from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.core.services import IssuedKey, add_staff_member, create_api_key, create_organization

pytest_plugins = ["tests.mail"]

CI = os.environ.get("CI") == "true"


def _close_connections_when_threads_end() -> None:
    """Every thread a test starts closes its Django database connections when it ends.

    Kassa keeps one PostgreSQL connection per thread (KASSA_DATABASE_POOL_SIZE=0, the default
    the suite runs with): a server's request and worker threads are a fixed set that lives as
    long as the process. A test's threads come and go, and each would leave its connection open
    until garbage collection, dozens per concurrency test, which can exhaust PostgreSQL's
    max_connections and keep the test database from being dropped."""
    original = threading.Thread.run

    def run_then_close(self: threading.Thread) -> None:
        try:
            original(self)
        finally:
            from django.db import connections

            connections.close_all()

    threading.Thread.run = run_then_close  # type: ignore[method-assign]


_close_connections_when_threads_end()
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in item.keywords and CHROMIUM is None:
            if CI:
                item.add_marker(
                    pytest.mark.xfail(
                        reason="chromium is required under CI=true", strict=True, run=False
                    )
                )
            else:
                item.add_marker(
                    pytest.mark.skip(
                        reason="needs Debian's chromium (/usr/bin/chromium); apt-get install chromium"
                    )
                )


@pytest.fixture(scope="session", autouse=True)
def _cache_listener(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Set up after the test databases, so torn down before they are dropped: the hot-cache
    listener's connection must be closed by then."""
    yield
    from kassa.platform import hotcache

    hotcache.stop_listener()


@pytest.fixture(autouse=True)
def _postgres_only(request: pytest.FixtureRequest) -> None:
    fastpath = request.node.get_closest_marker("fastpath") is not None
    if fastpath and os.environ.get("KASSA_DB_FASTPATH", "1") in ("0", "false", "no", "off"):
        pytest.skip("tests the PostgreSQL fast path, which KASSA_DB_FASTPATH=0 turns off")
    if request.node.get_closest_marker("postgres") is None and not fastpath:
        return
    if connection.vendor == "postgresql":
        return
    if os.environ.get("KASSA_TEST_POSTGRES_AVAILABLE") == "1":
        pytest.skip("PostgreSQL-only test: it runs in the PostgreSQL pass")
    if CI:
        pytest.fail("this test needs PostgreSQL, which is required under CI=true but not reachable")
    pytest.skip("PostgreSQL-only test: no PostgreSQL reachable (set KASSA_TEST_POSTGRES_URL)")


def assert_error(response: Any, status: int, code: str, param: str | None = None) -> dict[str, Any]:
    """Check that `response` is the API's error object with this status and code; return it."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"type", "code", "message", "param"} <= set(error)
    assert error["code"] == code
    assert error["message"]
    if param is not None:
        assert error["param"] == param
    return error


def make_org(name: str = "Acme Tours", currency: str = "UZS", **kwargs: Any) -> Organization:
    return create_organization(name=name, actor=Actor.system("test"), currency=currency, **kwargs)


def staff_client(org: Organization, role: str, email: str) -> Client:
    """A test client signed in to the admin as a staff member with `role` in `org`."""
    add_staff_member(
        org, email=email, role=role, password="pw-123456-x", actor=Actor.system("test")
    )
    client = Client()
    assert client.login(username=email, password="pw-123456-x")
    return client


@pytest.fixture
def org(db: None) -> Organization:
    return make_org()


def make_sandbox(organization: Organization) -> Any:
    """A default sandbox gateway account for UZS and EUR, as most tests need one."""
    from kassa.payments.accounts import create_gateway_account

    return create_gateway_account(
        organization,
        provider="sandbox",
        test_mode=True,
        credentials={},
        name="Sandbox",
        currencies=["UZS", "EUR"],
        is_default=True,
        actor=Actor.system("test"),
    )


@pytest.fixture
def sandbox(org: Organization) -> Any:
    return make_sandbox(org)


@pytest.fixture
def api_key(org: Organization) -> IssuedKey:
    return create_api_key(org, actor=Actor.system("test"), mode="test")


class ApiClient:
    """A Django test client that speaks the API: bearer key, JSON bodies."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.client = Client()

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}", **(headers or {})}

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        return self.client.get(path, params or None, headers=self._headers(headers))

    def post(
        self,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        extra = self._headers(headers)
        if idempotency_key:
            extra["Idempotency-Key"] = idempotency_key
        return self.client.post(
            path, {} if body is None else body, content_type="application/json", headers=extra
        )

    def put(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.put(
            path,
            {} if body is None else body,
            content_type="application/json",
            headers=self._headers(headers),
        )

    def delete(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.delete(path, headers=self._headers(headers))


@pytest.fixture
def api(api_key: IssuedKey) -> ApiClient:
    return ApiClient(api_key.secret)


@pytest.fixture
def make_api() -> Callable[[Organization, str], ApiClient]:
    def factory(organization: Organization, mode: str = "test") -> ApiClient:
        issued = create_api_key(organization, actor=Actor.system("test"), mode=mode)
        return ApiClient(issued.secret)

    return factory


def run_tasks(max_rounds: int = 50, *, raise_on_failure: bool = True) -> int:
    """Run every ready task in this process, as a worker would; return how many ran.

    A task that fails makes the test fail with its traceback unless `raise_on_failure` is off.
    """
    from django.utils import timezone
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    started = timezone.now()
    ran = 0
    # The worker closes "obsolete" connections between tasks; inside a test's transaction
    # that would close the test's own connection.
    with mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
        ran = _run_rounds(Worker, max_rounds)
    if raise_on_failure:
        failed = DBTaskResult.objects.filter(status="FAILED", finished_at__gte=started).first()
        if failed is not None:
            raise AssertionError(f"task {failed.task_path} failed:\n{failed.traceback}")
    return ran


def _run_rounds(worker_class: Any, max_rounds: int) -> int:
    ran = 0
    for _ in range(max_rounds):
        worker = worker_class(
            queue_names=["*"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id="test",
            excluded_queue_names=[],
        )
        worker.run()
        if worker._run_tasks == 0:
            break
        ran += worker._run_tasks
    return ran


@pytest.fixture
def tasks() -> Iterator[Callable[[], int]]:
    return run_tasks
