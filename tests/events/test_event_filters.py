"""The filters of GET /v1/events and of an endpoint's deliveries refuse values they cannot
match, naming the parameter, instead of answering an empty list."""

from __future__ import annotations

import pytest

from kassa.events.catalogue import EVENT_TYPES
from tests.conftest import ApiClient, assert_error

pytestmark = pytest.mark.django_db


def test_an_unknown_event_type_is_refused_with_the_valid_types(api: ApiClient) -> None:
    error = assert_error(api.get("/v1/events", type="nope"), 400, "unknown_event_type", "type")
    assert "'nope'" in error["message"]
    for name in EVENT_TYPES:
        assert name in error["message"]


def test_a_known_event_type_filters(api: ApiClient) -> None:
    api.post("/v1/customers", {"name": "Ann"})
    listed = api.get("/v1/events", type="customer.created").json()["data"]
    assert [e["type"] for e in listed] == ["customer.created"]
    assert api.get("/v1/events", type="customer.updated").json()["data"] == []


@pytest.mark.parametrize("param", ["created[gte]", "created[lte]"])
def test_a_malformed_time_names_the_parameter_and_iso_8601(api: ApiClient, param: str) -> None:
    response = api.get("/v1/events", **{param: "yesterday"})
    error = response.json()["error"]
    assert response.status_code == 422 and error["param"] == param
    assert "ISO 8601" in error["message"] and "2026-12-07T10:00:00Z" in error["message"]


def test_a_malformed_time_is_a_422_naming_the_parameter(api: ApiClient) -> None:
    for param in ("created[gte]", "created[lte]"):
        response = api.get("/v1/events", **{param: "yesterday"})
        assert response.status_code == 422 and response.json()["error"]["param"] == param


def test_a_delivery_status_outside_its_values_is_refused(api: ApiClient) -> None:
    endpoint = api.post(
        "/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/hook", "enabled_events": ["*"]}
    ).json()
    path = f"/v1/webhook_endpoints/{endpoint['id']}/deliveries"
    assert api.get(path, status="failed").status_code == 200
    response = api.get(path, status="nope")
    assert response.status_code == 422 and response.json()["error"]["param"] == "status"


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/v1/events", "created[lte]"),
        ("/v1/events", "created[gte]"),
        ("/v1/payments", "created_gte"),
    ],
)
def test_a_time_with_any_offset_filters_in_utc(api: ApiClient, path: str, param: str) -> None:
    # ISO 8601 allows offsets PostgreSQL does not (past ±15:59): this was a 500 there.
    for value in ("2026-05-27T04:14:20-20:20", "2026-05-27T04:14:20+23:59"):
        assert api.get(path, **{param: value}).status_code == 200


def test_payment_times_follow_the_input_rules(api: ApiClient) -> None:
    error = api.get("/v1/payments", created_gte="1573-09-29T03:56:38-23:55").json()["error"]
    assert (error["code"], error["param"]) == ("date_out_of_range", "created_gte")
    error = api.get("/v1/payments", created_lte="yesterday").json()["error"]
    assert "ISO 8601" in error["message"] and error["param"] == "created_lte"
