"""Schemathesis over the OpenAPI document: every operation, sent generated requests (valid ones
and invalid ones), answers no 5xx, only statuses it declares, and the content type it declares.

The requests run in-process through the API's own WSGI lane (`LaneHandler` with
`KASSA_API_MIDDLEWARE`, the chain `kassa serve` runs /v1/ through) inside the test's
transaction, authenticated with a test key of a fresh organization that has a sandbox gateway
account, a customer, a payment, a booking with a payment link, a wallet and a webhook endpoint;
path parameters are sometimes the ids of those objects, so requests get past the look-up.
Each request's writes are rolled back, so every example meets the same objects.

Generation is derandomized and bounded (MAX_EXAMPLES per operation, plus schemathesis'
deterministic coverage cases), so a CI run is repeatable; a failure prints the request as a
curl command. Host names are never resolved here: a generated webhook URL must not send a DNS
query, and nothing may reach a real payment provider.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from ninja.responses import NinjaJSONEncoder
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    status_code_conformance,
)

import kassa
from kassa.api import api
from kassa.core.actors import Actor
from kassa.core.services import create_api_key
from kassa.events.models import Event
from kassa.platform.wsgi_bridge import LaneHandler
from tests.conftest import ApiClient, make_org, make_sandbox


def _import_every_module_of_kassa() -> None:
    """Hypothesis now and then draws the literals of the code under test, which it reads from
    the local modules imported so far (hypothesis.internal.conjecture.providers). Importing
    every module of kassa first makes that pool, and so the generated requests, the same
    whatever ran before in this process (xdist and pytest-randomly order the tests anew on
    each run)."""
    for module in pkgutil.walk_packages(kassa.__path__, "kassa."):
        if module.name not in {"kassa.__main__", "kassa.asgi"}:
            importlib.import_module(module.name)


_import_every_module_of_kassa()

# More for a deeper run by hand: KASSA_SCHEMATHESIS_EXAMPLES=200 pytest tests/api/test_schemathesis.py
MAX_EXAMPLES = int(os.environ.get("KASSA_SCHEMATHESIS_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        # Currencies Kassa knows, now and then, so that bodies get past the currency check.
        "dictionaries": {"currencies": {"values": ["UZS", "EUR"]}},
        "parameters": {
            f"{location}.currency": {"dictionary": "currencies", "probability": 0.5}
            for location in ("body", "query")
        },
        "phases": {
            "examples": {"enabled": False},  # the document has no examples
            "stateful": {"enabled": False},
            # Methods a path does not have answer 405 (Django's router); not what this checks.
            "coverage": {"unexpected-methods": []},
        },
    }
)


def _document() -> dict[str, Any]:
    raw = json.loads(json.dumps(api.get_openapi_schema(), cls=NinjaJSONEncoder))
    return dict(raw)


schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)
schema.app = LaneHandler(django_settings.KASSA_API_MIDDLEWARE)

# The ids of the objects made for the running test, by path parameter name.
KNOWN: dict[str, list[str]] = {}


@schema.hooks.hook("flatmap_path_parameters")
def _sometimes_real_objects(context: Any, path_parameters: Any) -> Any:
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    choices = {
        name: st.one_of(st.just(value), st.sampled_from(KNOWN[name]))
        if KNOWN.get(name)
        else st.just(value)
        for name, value in path_parameters.items()
    }
    return st.fixed_dictionaries(choices)


@dataclass
class World:
    headers: dict[str, str]
    ids: dict[str, list[str]] = field(default_factory=dict)


def _resolve_nothing(host: Any, *args: Any, **kwargs: Any) -> Any:
    raise socket.gaierror(socket.EAI_NONAME, f"the schemathesis test resolves no name ({host})")


@pytest.fixture
def world(db: None, monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[World]:
    monkeypatch.setattr(socket, "getaddrinfo", _resolve_nothing)
    settings.KASSA_ALLOW_PRIVATE_WEBHOOK_URLS = True  # the fixture's endpoint is on 127.0.0.1
    try:
        org = make_org("Schemathesis Tours")
        account = make_sandbox(org)
        key = create_api_key(org, actor=Actor.system("test"), mode="test")
        client = ApiClient(key.secret)

        def made(path: str, body: dict[str, Any]) -> str:
            response = client.post(path, body)
            assert response.status_code == 200, response.content
            return str(response.json()["id"])

        customer = made("/v1/customers", {"name": "Aziza", "email": "aziza@example.com"})
        payment = made("/v1/payments", {"amount": 150000, "currency": "UZS", "customer": customer})
        service_date = (timezone.now() + timedelta(days=30)).date().isoformat()
        booking = made(
            "/v1/bookings",
            {
                "customer": customer,
                "reference": "FUZZ-1",
                "service_date": service_date,
                "total_amount": 500000,
                "currency": "UZS",
            },
        )
        link = made(f"/v1/bookings/{booking}/payment_links", {})
        wallet = made("/v1/wallets", {"customer": customer, "currency": "UZS"})
        endpoint = made(
            "/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/hook", "enabled_events": ["*"]}
        )
        event = Event.objects.filter(organization=org).values_list("pk", flat=True).first()
        ids = {
            "customer_id": [customer],
            "payment_id": [payment],
            "account_id": [account.id],
            "booking_id": [booking],
            "link_id": [link],
            "wallet_id": [wallet],
            "endpoint_id": [endpoint],
            "event_id": [str(event)],
            "currency": ["UZS"],
        }
        KNOWN.clear()
        KNOWN.update(ids)
        # As Django's test client does around each request (it connects them again after its
        # own, so this comes after the set-up): the per-request clean-up would close the
        # connection that holds the test's transaction.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        yield World(headers={"Authorization": f"Bearer {key.secret}"}, ids=ids)
    finally:
        KNOWN.clear()
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


RUNS_HERE = os.environ.get("KASSA_TEST_PASS") != "postgres-plain"


@pytest.mark.skipif(
    not RUNS_HERE,
    reason="runs in the SQLite and the PostgreSQL pass; the fast-path-off pass would repeat "
    "the PostgreSQL one through the ORM at a minute's cost",
)
@schema.parametrize()
@hypothesis_settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_every_operation_answers_only_what_it_documents(case: Any, world: World) -> None:
    if case.meta is not None and case.meta.phase.name == "coverage" and case.path_parameters:
        # The coverage cases vary the query and the body; they do it on real objects (the
        # fuzzing cases try unknown ids too).
        case.path_parameters = {
            name: world.ids[name][0] if name in world.ids else value
            for name, value in case.path_parameters.items()
        }
    with transaction.atomic():
        response = case.call(headers=world.headers)
        transaction.set_rollback(True)
    case.validate_response(response, checks=CHECKS, headers=world.headers)
