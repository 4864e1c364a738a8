"""Room on every page of ledger_account for the next version of its rows (PostgreSQL).

Every posting rewrites the balance of the accounts it moves. With full pages (fillfactor 100)
the new row version goes to another page, and both of the table's indexes get an entry for it;
with free room on the page PostgreSQL makes it a heap-only update (HOT): no index entry, and
the old version is reclaimed by the next visit to the page. Pages written from now on keep the
room; existing pages get it when the table is next rewritten (VACUUM FULL, pg_repack).
"""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE ledger_account SET (fillfactor = 50)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE ledger_account RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_derived_balances")]

    operations = [migrations.RunPython(forwards, backwards)]
