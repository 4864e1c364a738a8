"""/v1/customers: create, retrieve, update and list, their errors, their OpenAPI contract and
the events they publish."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.customers.models import Customer
from kassa.events.models import Event
from tests.conftest import ApiClient, assert_error, make_org

pytestmark = pytest.mark.django_db


def test_create_retrieve_and_update_customer(api: ApiClient) -> None:
    created = api.post(
        "/v1/customers",
        {
            "email": "a@example.com",
            "name": "Aziz",
            "phone": "+998 90 123-45-67",
            "locale": "uz",
            "metadata": {"crm_id": "42"},
        },
    )
    assert created.status_code == 200, created.content
    body = created.json()
    assert body["id"].startswith("cus_") and body["object"] == "customer"
    assert body["phone"] == "+998901234567"
    assert body["created"].endswith("Z")
    fetched = api.get(f"/v1/customers/{body['id']}").json()
    assert fetched == body
    updated = api.post(
        f"/v1/customers/{body['id']}", {"name": "Aziz K.", "metadata": {"crm_id": ""}}
    )
    assert updated.json()["name"] == "Aziz K." and updated.json()["metadata"] == {}


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"email": "not-an-email"}, 400, "invalid_request", "email"),
        ({"phone": "12345"}, 400, "invalid_request", "phone"),
        ({"locale": "fr"}, 400, "invalid_request", "locale"),
        ({"metadata": {"k": 5}}, 422, "parameter_invalid_string", "metadata.k"),
        ({"name": 12}, 422, "parameter_invalid_string", "name"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(
    api: ApiClient, body: dict[str, Any], status: int, code: str, param: str
) -> None:
    assert_error(api.post("/v1/customers", body), status, code, param)
    assert Customer.objects.count() == 0


def test_tenant_isolation(api: ApiClient, make_api: Any) -> None:
    mine = api.post("/v1/customers", {"name": "Mine"}).json()
    other = make_api(make_org("Other Org"))
    assert_error(other.get(f"/v1/customers/{mine['id']}"), 404, "resource_missing")
    assert_error(
        other.post(f"/v1/customers/{mine['id']}", {"name": "stolen"}), 404, "resource_missing"
    )
    listing = other.get("/v1/customers").json()
    assert listing == {"object": "list", "data": [], "has_more": False}
    assert Customer.objects.get(pk=mine["id"]).name == "Mine"


def test_a_missing_customer_is_a_404_naming_it(api: ApiClient) -> None:
    error = assert_error(api.get("/v1/customers/cus_x"), 404, "resource_missing", "id")
    assert error["message"] == "No such customer: 'cus_x'."


def test_the_list_filters_by_email_ignoring_case(api: ApiClient) -> None:
    ann = api.post("/v1/customers", {"name": "Ann", "email": "Ann@Example.com"}).json()
    api.post("/v1/customers", {"name": "Bob", "email": "bob@example.com"})
    listing = api.get("/v1/customers", email="ann@example.com").json()
    assert listing == {"object": "list", "data": [ann], "has_more": False}


def test_the_openapi_operations_keep_their_ids_tag_and_summary(client: Any) -> None:
    # Generated clients name their methods after the operation ids, so the move out of
    # kassa.core must not change them.
    paths = client.get("/v1/openapi.json").json()["paths"]
    operations = {
        (path, method): (operation["operationId"], operation["tags"])
        for path in ("/v1/customers", "/v1/customers/{customer_id}")
        for method, operation in paths[path].items()
    }
    assert operations == {
        ("/v1/customers", "post"): ("kassa_core_api_create_customer", ["customers"]),
        ("/v1/customers", "get"): ("kassa_core_api_list_customers", ["customers"]),
        ("/v1/customers/{customer_id}", "get"): ("kassa_core_api_retrieve_customer", ["customers"]),
        ("/v1/customers/{customer_id}", "post"): ("kassa_core_api_update_customer", ["customers"]),
    }
    assert paths["/v1/customers"]["post"]["summary"] == "Create a customer"


def test_writes_publish_events_carrying_the_public_form(api: ApiClient) -> None:
    created = api.post("/v1/customers", {"name": "Ann", "email": "ann@example.com"}).json()
    updated = api.post(f"/v1/customers/{created['id']}", {"name": "Ann B."}).json()
    events = Event.objects.filter(object_id=created["id"]).order_by("id")
    assert [(event.type, event.data) for event in events] == [
        ("customer.created", {"object": created}),
        ("customer.updated", {"object": updated}),
    ]
