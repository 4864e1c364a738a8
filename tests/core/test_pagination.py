"""`starting_after`: an id of another kind is a 400 `invalid_starting_after`; an id of the right
kind that names no object of the list is a 404 `resource_missing`; an object that stopped
matching the list's filters still continues the paging (kassa.core.pagination)."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.core.ids import new_id
from tests.conftest import ApiClient, assert_error, make_org

pytestmark = pytest.mark.django_db


def test_an_id_of_another_kind_is_refused_for_its_prefix(api: ApiClient) -> None:
    error = assert_error(
        api.get("/v1/customers", starting_after="pay_x"),
        400,
        "invalid_starting_after",
        "starting_after",
    )
    assert "cus_" in error["message"] and "'pay_x'" in error["message"]


@pytest.mark.parametrize(
    "cursor",
    [
        "cus_nope",
        "cus_",
        "cus_" + "0" * 26,  # well formed, names nothing
        "cus_" + "0" * 25 + "Z",  # ids are lower case
    ],
)
def test_an_unknown_id_of_the_right_kind_is_missing(api: ApiClient, cursor: str) -> None:
    error = assert_error(
        api.get("/v1/customers", starting_after=cursor), 404, "resource_missing", "starting_after"
    )
    assert error["message"].startswith(f"No such customer: {cursor!r}.")


def test_another_organizations_object_is_missing_too(api: ApiClient, make_api: Any) -> None:
    theirs = make_api(make_org("Other")).post("/v1/customers", {"name": "Theirs"}).json()["id"]
    assert_error(
        api.get("/v1/customers", starting_after=theirs), 404, "resource_missing", "starting_after"
    )


def test_the_brief_example_on_bookings(api: ApiClient) -> None:
    error = assert_error(api.get("/v1/bookings", starting_after="bk_nope"), 404, "resource_missing")
    assert "No such booking: 'bk_nope'" in error["message"]
    assert_error(api.get("/v1/bookings", starting_after="cus_1"), 400, "invalid_starting_after")


def test_an_object_that_left_the_filter_still_continues_the_paging(api: ApiClient) -> None:
    older, middle, newest = (
        api.post("/v1/customers", {"name": name, "email": "team@example.com"}).json()["id"]
        for name in ("a", "b", "c")
    )
    first = api.get("/v1/customers", email="team@example.com", limit=1).json()
    assert [c["id"] for c in first["data"]] == [newest] and first["has_more"]
    api.post(f"/v1/customers/{newest}", {"email": "moved@example.com"})
    rest = api.get("/v1/customers", email="team@example.com", starting_after=newest).json()
    assert [c["id"] for c in rest["data"]] == [middle, older] and not rest["has_more"]


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        ("/v1/payments", "pay"),
        ("/v1/refunds", "re"),
        ("/v1/gateway_accounts", "gwa"),
        ("/v1/events", "evt"),
        ("/v1/webhook_endpoints", "we"),
        ("/v1/notifications", "ntf"),
        ("/v1/wallets", "wal"),
        ("/v1/bookings", "bk"),
    ],
)
def test_every_list_checks_its_cursor(api: ApiClient, path: str, prefix: str) -> None:
    assert_error(api.get(path, starting_after="xyz_1"), 400, "invalid_starting_after")
    assert_error(api.get(path, starting_after=new_id(prefix)), 404, "resource_missing")
    assert api.get(path).status_code == 200
