"""Strict input at the API's schema layer (decision 036), shown on every operation the OpenAPI
document lists, so that a field added later is covered without a new test: text that cannot be
stored, integers that are not integers, bodies that are not JSON objects, dates out of range."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from kassa.customers.models import Customer
from tests.conftest import ApiClient, assert_error

pytestmark = pytest.mark.django_db

_HOSTILE_TEXT = ["x\x00y", "\ud800", "ok\udfffok"]


def _schema(api: ApiClient) -> dict[str, Any]:
    response = api.get("/v1/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = document["components"]["schemas"][name]
    return node


def _types(document: dict[str, Any], node: dict[str, Any]) -> set[str]:
    node = _resolve(document, node)
    if "anyOf" in node:
        return set().union(*(_types(document, option) for option in node["anyOf"]))
    kind = node.get("type")
    return {kind} if isinstance(kind, str) else set(kind or ())


def _body_fields(document: dict[str, Any]) -> Iterator[tuple[str, str, str, set[str]]]:
    """(method, path with dummy ids, field, its JSON types) for every request body field."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            body = _resolve(document, content["application/json"]["schema"])
            concrete = path.replace("{", "").replace("}", "")
            for name, field in body.get("properties", {}).items():
                yield method, concrete, name, _types(document, field)


def _send(api: ApiClient, method: str, path: str, body: Any) -> Any:
    raw = json.dumps(body)  # escapes NUL and lone surrogates as \u0000 and \ud800
    return getattr(api.client, method)(
        path,
        raw,
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.secret}"},
    )


def test_every_text_field_refuses_nul_and_lone_surrogates(api: ApiClient) -> None:
    document = _schema(api)
    checked = 0
    for method, path, name, types in _body_fields(document):
        if "string" not in types:
            continue
        for hostile in _HOSTILE_TEXT:
            error = assert_error(
                _send(api, method, path, {name: hostile}), 422, "invalid_characters", name
            )
            assert name in error["message"]
        checked += 1
    assert checked >= 30, checked  # every resource's text fields, not a handful


def test_every_integer_field_is_strict(api: ApiClient) -> None:
    document = _schema(api)
    checked = 0
    for method, path, name, types in _body_fields(document):
        if "integer" not in types:
            continue
        for wrong in (True, "5", 5.0, [5]):
            response = _send(api, method, path, {name: wrong})
            assert response.status_code == 422, (method, path, name, response.content)
            problems = response.json()["error"]["errors"]
            assert {"param": name, "code": "parameter_invalid_integer"} in [
                {"param": p["param"], "code": p["code"]} for p in problems
            ], (method, path, name, problems)
        for huge in (2**63, -(2**63) - 1, 10**16):
            assert_error(
                _send(api, method, path, {name: huge}), 422, "parameter_out_of_range", name
            )
        checked += 1
    assert checked >= 10, checked


def test_nested_text_and_integers_name_their_path(api: ApiClient) -> None:
    assert_error(
        api.post("/v1/customers", {"name": "Ann", "metadata": {"note": "a\x00b"}}),
        422,
        "invalid_characters",
        "metadata.note",
    )
    assert_error(
        api.post("/v1/customers", {"metadata": {"\x00": "v"}}),
        422,
        "invalid_characters",
    )
    batch = {"charges": [{"wallet": "wal_x", "amount": 1, "idempotency_key": "k"}] * 2}
    batch["charges"] = [dict(batch["charges"][0]), {**batch["charges"][0], "description": "\x00"}]
    assert_error(
        api.post("/v1/wallet_charges/batch", batch),
        422,
        "invalid_characters",
        "charges[1].description",
    )
    batch["charges"][1] = {"wallet": "wal_x", "amount": True, "idempotency_key": "k2"}
    assert_error(
        api.post("/v1/wallet_charges/batch", batch),
        422,
        "parameter_invalid_integer",
        "charges[1].amount",
    )
    assert Customer.objects.count() == 0


def test_paths_and_queries_refuse_nul(api: ApiClient) -> None:
    document = _schema(api)
    checked = 0
    for path, operations in document["paths"].items():
        if "{" not in path or "get" not in operations:
            continue
        concrete = path.split("{", 1)[0] + "x%00y"
        response = api.client.get(concrete, headers={"Authorization": f"Bearer {api.secret}"})
        assert_error(response, 422, "invalid_characters", "path")
        checked += 1
    assert checked >= 8, checked
    assert_error(api.get("/v1/customers", email="a\x00@b.c"), 422, "invalid_characters", "email")
    assert_error(
        api.get("/v1/events", **{"created[gte]": "2026-01-01\x00"}), 422, "invalid_characters"
    )


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        ("[]", "application/json", 400, "json_object_required"),
        ("null", "application/json", 400, "json_object_required"),
        ('"str"', "application/json", 400, "json_object_required"),
        ("5", "application/json", 400, "json_object_required"),
        ('{"name": "x"', "application/json", 400, "invalid_json"),
        ('{"name": NaN}', "application/json", 400, "invalid_json"),
        ('{"name": "Ann"}', "text/plain", 415, "unsupported_media_type"),
        ('{"name": "Ann"}', "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("--x\r\nbroken", "multipart/form-data; boundary=x", 415, "unsupported_media_type"),
    ],
)
def test_bodies_that_are_not_json_objects_change_nothing(
    api: ApiClient, raw: str, content_type: str, status: int, code: str
) -> None:
    headers = {"Authorization": f"Bearer {api.secret}"}
    for path in ("/v1/customers", "/v1/payments"):
        response = api.client.post(path, raw, content_type=content_type, headers=headers)
        assert_error(response, status, code)
    assert Customer.objects.count() == 0


def test_malformed_json_says_where(api: ApiClient) -> None:
    response = api.client.post(
        "/v1/customers",
        '{\n  "name": "Ann",\n  "email": }',
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.secret}"},
    )
    error = assert_error(response, 400, "invalid_json")
    assert "line 3, column 12" in error["message"], error["message"]


def test_unknown_fields_are_named(api: ApiClient) -> None:
    error = assert_error(api.post("/v1/customers", {"nmae": "Ann"}), 422, "parameter_unknown")
    assert error["param"] == "nmae"
    assert Customer.objects.count() == 0


def test_an_operation_with_a_body_needs_one(api: ApiClient) -> None:
    response = api.client.post(
        "/v1/customers",
        "",
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.secret}"},
    )
    error = assert_error(response, 422, "parameter_missing")
    assert "{}" in error["message"]
    assert Customer.objects.count() == 0


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1969-12-31", "2101-01-01"])
def test_dates_out_of_range_are_refused(api: ApiClient, day: str) -> None:
    customer = api.post("/v1/customers", {"name": "Ann"}).json()["id"]
    body = {
        "customer": customer,
        "reference": "R-1",
        "service_date": day,
        "total_amount": 1000,
        "currency": "UZS",
    }
    error = assert_error(api.post("/v1/bookings", body), 422, "date_out_of_range", "service_date")
    assert "1970-01-01" in error["message"] and "2100-12-31" in error["message"]
    assert_error(
        api.get("/v1/events", **{"created[gte]": f"{day}T00:00:00Z"}),
        422,
        "date_out_of_range",
        "created[gte]",
    )


def test_query_integers_are_digits(api: ApiClient) -> None:
    for wrong in ("1.0", "true", "1e1", " 5", "0x10"):
        assert_error(api.get("/v1/customers", limit=wrong), 422, "parameter_invalid_integer")
    assert api.get("/v1/customers", limit="5").status_code == 200


def test_django_ninja_still_names_its_root_validator() -> None:
    """InputSchema replaces django-ninja's root validator by name (docs/upgrading.md)."""
    import ninja
    import pydantic

    from kassa.core.schemas import InputSchema

    assert "_run_root_validator" in ninja.Schema.__pydantic_decorators__.model_validators
    with pytest.raises(pydantic.ValidationError, match="valid dictionary"):
        InputSchema.model_validate([])


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "a\\u0000b"}'.encode("utf-16"),  # \u0000 escaped, in another encoding
        b'{"name": "a\xed\xa0\x80b"}',  # a surrogate encoded as if it were UTF-8
        b'{"name": "\xff"}',
    ],
)
def test_bodies_are_utf8(api: ApiClient, raw: bytes) -> None:
    response = api.client.post(
        "/v1/customers",
        raw,
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.secret}"},
    )
    assert_error(response, 400, "invalid_json")
    assert Customer.objects.count() == 0


def test_escapes_that_only_look_unstorable_are_fine(api: ApiClient) -> None:
    """The fast check on the raw body flags these; the walk then finds nothing wrong."""
    body = {"name": "back\\u0000slash", "metadata": {"n": "1234567890123456789"}}
    created = api.post("/v1/customers", body)
    assert created.status_code == 200, created.content
    assert created.json()["name"] == "back\\u0000slash"
