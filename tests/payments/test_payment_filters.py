"""GET /v1/payments refuses a status it cannot match instead of answering an empty list."""

from __future__ import annotations

import pytest

from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def test_a_status_outside_the_payment_statuses_is_refused(api: ApiClient) -> None:
    assert api.get("/v1/payments", status="succeeded").status_code == 200
    response = api.get("/v1/payments", status="paid")
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "status"


def test_the_openapi_document_lists_the_statuses(api: ApiClient) -> None:
    document = api.client.get("/v1/openapi.json").json()
    parameters = document["paths"]["/v1/payments"]["get"]["parameters"]
    (status,) = [p for p in parameters if p["name"] == "status"]
    assert {"$ref": "#/components/schemas/PaymentStatus"} in status["schema"]["anyOf"]
    values = document["components"]["schemas"]["PaymentStatus"]["enum"]
    assert {"pending", "requires_action", "succeeded", "failed"} <= set(values)
