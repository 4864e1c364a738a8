"""The move of Customer from kassa.core to kassa.customers changes Django's state only.

customers 0001 takes the model over (table core_customer), bookings 0002, notifications 0005,
payments 0006, portal 0002 and wallets 0004 point their foreign keys at it, core 0005 drops
core's copy and customers 0002 moves the content type. A customer written under the old state
must read back through the new model, with the rows of other apps that point at it, and no
DDL may run in either direction.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import StateApps
from django.test.utils import CaptureQueriesContext

from kassa.core.representations import iso
from kassa.customers.models import Customer
from kassa.customers.representations import customer_dict
from kassa.payments.models import Payment

MOVE = [
    ("customers", "0001_initial"),
    ("bookings", "0002_customer_fk_to_customers_app"),
    ("notifications", "0005_customer_fk_to_customers_app"),
    ("payments", "0006_customer_fk_to_customers_app"),
    ("portal", "0002_customer_fk_to_customers_app"),
    ("wallets", "0004_customer_fk_to_customers_app"),
    ("core", "0005_move_customer_state_to_customers"),
    ("customers", "0002_move_content_type"),
]
# Unapplying the customers app unapplies every migration of the move (they all depend on
# customers 0001), which leaves the database as the old main migrated it.
BEFORE_THE_MOVE = [("customers", None)]
# Each app of the move at its last migration of the move: migrations added since (core 0006,
# the failed sign-ins) depend on the move and are unapplied first, with DDL of their own.
END_OF_THE_MOVE = [
    ("customers", "0002_move_content_type"),
    ("bookings", "0002_customer_fk_to_customers_app"),
    ("notifications", "0005_customer_fk_to_customers_app"),
    ("payments", "0006_customer_fk_to_customers_app"),
    ("portal", "0002_customer_fk_to_customers_app"),
    ("wallets", "0004_customer_fk_to_customers_app"),
    ("core", "0005_move_customer_state_to_customers"),
]
DDL = re.compile(r"^\s*(CREATE|ALTER|DROP|RENAME|TRUNCATE|COMMENT|REINDEX)\b", re.IGNORECASE)

# Migrations run outside a transaction (SQLite's schema editor refuses to run inside one).
pytestmark = pytest.mark.django_db(transaction=True)


def migrate(targets: list[tuple[str, str | None]] | None = None) -> tuple[Any, list[str]]:
    """Migrate to `targets` (default: every app's latest migration); return the project state
    reached and the SQL statements that ran."""
    executor = MigrationExecutor(connection)
    with CaptureQueriesContext(connection) as queries:
        state = executor.migrate(targets or executor.loader.graph.leaf_nodes())
    return state, [query["sql"] for query in queries]


def schema() -> dict[str, Any]:
    """Every table's columns, indexes and constraints, as Django's introspection sees them."""
    introspection = connection.introspection
    with connection.cursor() as cursor:
        return {
            table: (
                [
                    (column.name, column.type_code, column.null_ok)
                    for column in introspection.get_table_description(cursor, table)
                ],
                introspection.get_constraints(cursor, table),
            )
            for table in sorted(introspection.table_names(cursor))
        }


@pytest.fixture
def before_the_move() -> Iterator[StateApps]:
    """The database migrated back to where the old main left it; the historical models of that
    state. Migrated forward again afterwards, whatever the test did."""
    try:
        migrate(END_OF_THE_MOVE)
        state, statements = migrate(BEFORE_THE_MOVE)
        assert [s for s in statements if DDL.match(s)] == []
        # The capture works: unapplying recorded itself in django_migrations.
        assert any("django_migrations" in s for s in statements)
        yield state.apps
    finally:
        migrate()


def test_a_customer_written_before_the_move_reads_through_the_new_model(
    before_the_move: StateApps,
) -> None:
    old_customer_model = before_the_move.get_model("core", "Customer")
    assert old_customer_model._meta.db_table == "core_customer"
    with pytest.raises(LookupError):
        before_the_move.get_model("customers", "Customer")
    organization = before_the_move.get_model("core", "Organization").objects.create(
        name="Before the move"
    )
    old = old_customer_model.objects.create(
        organization=organization,
        email="old@example.com",
        name="Old Customer",
        phone="+998901234567",
        locale="uz",
        metadata={"crm": "7"},
    )
    old_payment = before_the_move.get_model("payments", "Payment").objects.create(
        organization=organization, amount=150_000, currency="UZS", customer=old
    )
    tables = schema()

    _, statements = migrate(END_OF_THE_MOVE)

    assert [s for s in statements if DDL.match(s)] == []
    assert schema() == tables
    customer = Customer.objects.get(pk=old.pk)
    assert customer.id.startswith("cus_")
    assert customer_dict(customer) == {
        "id": old.pk,
        "object": "customer",
        "email": "old@example.com",
        "name": "Old Customer",
        "phone": "+998901234567",
        "locale": "uz",
        "metadata": {"crm": "7"},
        "created": iso(old.created_at),
    }
    assert customer.organization_id == organization.pk
    payment = Payment.objects.select_related("customer").get(pk=old_payment.pk)
    assert payment.customer == customer and payment.amount == 150_000
    assert list(customer.payments.all()) == [payment]


def test_the_content_type_follows_the_model() -> None:
    # Admin log entries and permissions point at the content type by id: the id must stay.
    pk = ContentType.objects.get_for_model(Customer).pk
    try:
        state, _ = migrate(BEFORE_THE_MOVE)
        old = state.apps.get_model("contenttypes", "ContentType").objects
        assert list(old.filter(model="customer").values_list("pk", "app_label")) == [(pk, "core")]
    finally:
        migrate()
    ContentType.objects.clear_cache()
    assert list(ContentType.objects.filter(model="customer").values_list("pk", "app_label")) == [
        (pk, "customers")
    ]


@pytest.mark.parametrize(("app", "name"), MOVE)
def test_sqlmigrate_prints_no_sql(app: str, name: str) -> None:
    out = io.StringIO()
    call_command("sqlmigrate", app, name, stdout=out)
    statements = [
        line
        for line in out.getvalue().splitlines()
        if line.strip() and not line.startswith("--") and line not in ("BEGIN;", "COMMIT;")
    ]
    assert statements == []


@pytest.mark.postgres
def test_postgresql_keeps_the_table_its_index_and_the_foreign_keys(
    before_the_move: StateApps,
) -> None:
    def catalog() -> list[tuple[str, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
                " FROM pg_constraint WHERE conrelid = 'core_customer'::regclass"
                " OR confrelid = 'core_customer'::regclass"
                " UNION ALL SELECT tablename, indexname, indexdef FROM pg_indexes"
                " WHERE tablename = 'core_customer' ORDER BY 1, 2"
            )
            return [tuple(row) for row in cursor.fetchall()]

    old = catalog()
    migrate()
    assert catalog() == old
    names = {name for _, name, _ in old}
    assert "core_custom_organiz_041385_idx" in names
    referencing = {
        table for table, _, definition in old if "REFERENCES core_customer" in definition
    }
    assert referencing == {
        "bookings_booking",
        "notifications_customerwebhook",
        "notifications_notification",
        "notifications_notificationpreference",
        "notifications_pushsubscription",
        "payments_payment",
        "payments_paymentmethod",
        "portal_signinrequest",
        "wallets_wallet",
    }
