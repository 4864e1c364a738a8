"""The OpenAPI document at /v1/openapi.json tells generated clients every status an operation
can answer, each with the error object's schema (kassa.core.responses)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

EVERY_OPERATION = {400, 401, 413, 422, 500, 503}
ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorOut"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    response = Client().get("/v1/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(found) > 60
    return found


def _missing(operation: dict[str, Any], statuses: set[int]) -> list[int]:
    declared = {int(status) for status in operation["responses"]}
    return sorted(statuses - declared)


def test_every_operation_declares_the_statuses_any_request_can_get(
    document: dict[str, Any],
) -> None:
    gaps = {
        f"{method} {path}": missing
        for method, path, operation in _operations(document)
        if (missing := _missing(operation, EVERY_OPERATION))
    }
    assert gaps == {}


def test_requests_with_a_body_declare_415_and_posts_409(document: dict[str, Any]) -> None:
    gaps = {}
    for method, path, operation in _operations(document):
        wanted = set()
        if method in {"POST", "PUT", "DELETE"}:
            wanted.add(415)  # a body that is not JSON
        if method == "POST":
            wanted.add(409)  # idempotency_key_in_use
        if missing := _missing(operation, wanted):
            gaps[f"{method} {path}"] = missing
    assert gaps == {}


def test_operations_that_name_an_object_declare_404(document: dict[str, Any]) -> None:
    gaps = []
    for method, path, operation in _operations(document):
        names = {parameter["name"] for parameter in operation.get("parameters", [])}
        if ("{" in path or "starting_after" in names) and _missing(operation, {404}):
            gaps.append(f"{method} {path}")
    assert gaps == []


def test_every_error_response_carries_the_error_object(document: dict[str, Any]) -> None:
    wrong = []
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if schema != ERROR_SCHEMA:
                wrong.append(f"{method} {path} {status}: {schema}")
    assert wrong == []
    assert set(document["components"]["schemas"]["ErrorOut"]["properties"]) == {"error"}


def test_the_csv_export_declares_its_media_type(document: dict[str, Any]) -> None:
    operation = document["paths"]["/v1/wallets/{wallet_id}/transactions.csv"]["get"]
    assert set(operation["responses"]["200"]["content"]) == {"text/csv"}
