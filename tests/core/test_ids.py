"""Public ids sort in creation order, also within one millisecond."""

from __future__ import annotations

from unittest import mock

from kassa.core.ids import is_valid_id, new_id


def test_ids_made_one_after_the_other_sort_in_that_order() -> None:
    ids = [new_id("cus") for _ in range(20_000)]  # many share a millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(is_valid_id(i, "cus") for i in ids[:100])


def test_a_clock_that_steps_back_does_not_reorder_ids() -> None:
    first = new_id("pay")
    with mock.patch("kassa.core.ids.time.time_ns", return_value=0):
        later = new_id("pay")
    assert later > first and is_valid_id(later, "pay")
