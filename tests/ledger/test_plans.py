"""PostgreSQL plans the ledger's statements once per connection, not once per posting: planning
the posting statement cost more than running it. A single transaction goes through a statement
with scalar parameters, whose generic plan PostgreSQL keeps by itself; a batch forces the
generic plan for its one statement and leaves the session's setting as it was, also when the
batch is refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction

from kassa.ledger import services as ledger
from kassa.ledger.services import InsufficientFunds
from tests.ledger.helpers import assert_ledger_balanced

pytestmark = [pytest.mark.postgres, pytest.mark.fastpath, pytest.mark.django_db(transaction=True)]


def _plans() -> dict[tuple[str, str], tuple[int, int]]:
    """(name, statement) -> (generic plans, custom plans) of the ledger's prepared statements.
    By name: one text can be prepared twice, for parameters of other types."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, statement, generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE %s",
            ["WITH acc AS%"],
        )
        return {(row[0], row[1]): (row[2], row[3]) for row in cursor.fetchall()}


def _planned_since(
    before: dict[tuple[str, str], tuple[int, int]],
) -> dict[tuple[str, str], tuple[int, int]]:
    """The (generic, custom) plans made since `before` was read, per prepared statement that
    made any: a connection can come from a pool with other tests' statements and counts on it."""
    found = {}
    for key, (generic, custom) in _plans().items():
        old_generic, old_custom = before.get(key, (0, 0))
        if (generic, custom) != (old_generic, old_custom):
            found[key] = (generic - old_generic, custom - old_custom)
    return found


def _plan_cache_mode() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        return str(cursor.fetchone()[0])


@pytest.fixture
def accounts(org: Any) -> tuple[Any, int, int]:
    source = ledger.account_id(org.id, kind="external", currency="UZS")
    wallet = ledger.account_id(org.id, kind="wallet", currency="UZS", owner_id="w", min_balance=0)
    return org, source, wallet


def _move(key: str, src: int, dst: int, amount: int) -> ledger.TransferSpec:
    return ledger.transfer(
        kind="t", idempotency_key=key, source=src, destination=dst, amount=amount
    )


def test_single_postings_keep_a_generic_plan(accounts: Any) -> None:
    org, source, wallet = accounts
    connection.ensure_connection()
    before = _plans()
    for n in range(20):
        ledger.post(org.id, _move(f"single-{n}", source, wallet, 10))
    with transaction.atomic():  # behind a savepoint, the same statement
        for n in range(5):
            ledger.post(org.id, _move(f"nested-{n}", source, wallet, 10))
    plans = [p for (_, s), p in _planned_since(before).items() if "unnest" not in s]
    assert len(plans) == 1, plans
    generic, custom = plans[0]
    # PostgreSQL tries custom plans for the first five executions, then keeps the generic one.
    assert custom <= 5 and generic + custom == 25, plans
    assert ledger.balance_of(wallet) == 250
    assert_ledger_balanced(org.id)


def test_batches_use_the_generic_plan_and_restore_the_setting(accounts: Any) -> None:
    org, source, wallet = accounts
    connection.ensure_connection()
    before = _plan_cache_mode()
    counted = _plans()
    for n in range(8):
        ledger.post_batch(org.id, [_move(f"b{n}-{i}", source, wallet, 1) for i in range(3)])
        assert _plan_cache_mode() == before
    # (Checked before the refusals, whose rollbacks start new transactions.)
    batch_plans = [p for (_, s), p in _planned_since(counted).items() if "unnest" in s]
    assert len(batch_plans) == 1, _plans()
    generic, custom = batch_plans[0]
    assert custom == 0 and generic == 8, batch_plans
    with pytest.raises(InsufficientFunds):
        ledger.post_batch(
            org.id, [_move("too-much", wallet, source, 25), _move("x", wallet, source, 1)]
        )
    assert _plan_cache_mode() == before
    with transaction.atomic():
        with pytest.raises(InsufficientFunds):
            ledger.post_batch(
                org.id, [_move("y", wallet, source, 30), _move("z", wallet, source, 1)]
            )
        assert _plan_cache_mode() == before
        ledger.post_batch(
            org.id, [_move("ok-1", wallet, source, 1), _move("ok-2", wallet, source, 1)]
        )
        assert _plan_cache_mode() == before
    assert ledger.balance_of(wallet) == 22
    assert_ledger_balanced(org.id)
