"""No FOREIGN KEY constraints from entries to their transaction and account, nor from a
transaction to its organization; on PostgreSQL, DELETE is refused on the three ledger tables.

Why (docs/ledger.md, "No foreign keys on the hot tables"): every posting writes one
transaction and two or more entries, and each row's foreign keys were checked one by one when
the transaction committed, while the accounts' row locks were still held: a third of a
100-transfer batch's time in PostgreSQL and nearly half of the time its locks were held. The
posting statement already checks what they checked (the accounts exist and belong to the
organization; the transaction ids come from its own INSERT), and what they also guarded, that
no account or transaction with entries is ever deleted, the triggers below now guard for every
ledger row. `kassa ledger verify` reports any entry without its transaction or account, and
any posting across organizations. (TRUNCATE, which test runs use to empty tables, is not a
DELETE.) On SQLite the models refuse deletes (PROTECT and `delete()`), as before.
"""

import django.db.models.deletion
from django.db import migrations, models

TABLES = ("ledger_account", "ledger_transaction", "ledger_entry")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        # SQLite altered the two tables by copying them into new ones, which loses their
        # triggers: 0002's UPDATE triggers are made again.
        with schema_editor.connection.cursor() as cursor:
            for table in ("ledger_entry", "ledger_transaction"):
                cursor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        return
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION kassa_no_delete() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION '% rows are never deleted', TG_TABLE_NAME; END; $$ "
            "LANGUAGE plpgsql"
        )
        for table in TABLES:
            cursor.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION kassa_no_delete()"
            )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete ON {table}")
        cursor.execute("DROP FUNCTION IF EXISTS kassa_no_delete()")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_drop_like_indexes"),
        ("ledger", "0002_append_only_triggers"),
    ]

    operations = [
        migrations.AlterField(
            model_name="ledgerentry",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entries",
                to="ledger.ledgeraccount",
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="transaction",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entries",
                to="ledger.ledgertransaction",
            ),
        ),
        migrations.AlterField(
            model_name="ledgertransaction",
            name="organization",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="core.organization",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
