"""A wallet's history pages by `starting_after=wtx_...` as every list does (another kind of id
is a 400, an id that is not one of this wallet's transactions a 404, never a 500), and its
filters refuse what cannot match."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.wallets.models import Wallet
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db


def _history(api: Any, wallet: Wallet, **params: Any) -> Any:
    return api.get(f"/v1/wallets/{wallet.id}/transactions", **params)


def test_another_kind_of_id_is_refused(api: Any, wallet: Wallet) -> None:
    error = assert_error(
        _history(api, wallet, starting_after="pay_1"),
        400,
        "invalid_starting_after",
        "starting_after",
    )
    assert "wtx_" in error["message"]


@pytest.mark.parametrize(
    "cursor",
    [
        "wtx_",
        "wtx_x",
        "wtx_\u00b2",  # a digit to str.isdigit, not to int()
        "wtx_\u0663",  # an Arabic-Indic three
        "wtx_99999999999999999999999",  # past a bigint
        "wtx_999999999999999999",
        "wtx_-1",
    ],
)
def test_no_such_transaction_is_missing(api: Any, wallet: Wallet, cursor: str) -> None:
    assert_error(
        _history(api, wallet, starting_after=cursor), 404, "resource_missing", "starting_after"
    )


def test_another_wallets_transaction_is_missing(api: Any, wallet: Wallet, make_wallet: Any) -> None:
    other = make_wallet(500, currency="UZS")
    theirs = _history(api, other).json()["data"][0]["id"]
    assert_error(_history(api, wallet, starting_after=theirs), 404, "resource_missing")
    assert _history(api, other, starting_after=theirs).json()["data"] == []


def test_an_unknown_type_has_its_own_code(api: Any, wallet: Wallet) -> None:
    error = assert_error(
        _history(api, wallet, type="gift"), 400, "unknown_transaction_type", "type"
    )
    assert "charge" in error["message"]


@pytest.mark.parametrize(
    ("param", "value"),
    [("amount_gte", -1), ("amount_lte", 10**15 + 1), ("amount_gte", 999_999_999_999_999_999)],
)
def test_amount_bounds_past_any_amount_are_refused(
    api: Any, wallet: Wallet, param: str, value: int
) -> None:
    assert_error(_history(api, wallet, **{param: value}), 400, "invalid_amount", param)


def test_amount_bounds_within_range_filter(api: Any, wallet: Wallet) -> None:
    listed = _history(api, wallet, amount_gte=0, amount_lte=10**15).json()["data"]
    assert [t["amount"] for t in listed] == [10_000]
