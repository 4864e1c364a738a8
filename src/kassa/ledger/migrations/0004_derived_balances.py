"""Accounts whose balance is derived from their entries (docs/ledger.md, "Derived balances").

House accounts (gateway clearing, payments received, refunds in flight, wallet usage, bonuses
and adjustments) stop caching a balance: every posting of an organization touched the same
two rows under a row lock, so its postings queued one behind the other. Existing ones become
derived (their cached balance, which nothing reads any more, goes to 0, as on new ones);
their entries keep the balance they recorded, new entries on them record none. A derived
account cannot have a floor.
"""

from django.db import migrations, models

HOUSE_KINDS = (
    "gateway_clearing",
    "payments_received",
    "refunds_in_flight",
    "wallet_usage",
    "wallet_bonus",
    "wallet_adjustment",
)


def forwards(apps, schema_editor):
    account = apps.get_model("ledger", "LedgerAccount")
    account.objects.filter(kind__in=HOUSE_KINDS, min_balance__isnull=True).update(
        derived=True, balance=0
    )
    if schema_editor.connection.vendor == "sqlite":
        # SQLite altered ledger_entry by copying it into a new table, which loses its trigger:
        # 0002's UPDATE trigger is made again.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "CREATE TRIGGER IF NOT EXISTS ledger_entry_no_update BEFORE UPDATE ON "
                "ledger_entry BEGIN SELECT RAISE(ABORT, 'ledger_entry is append-only'); END"
            )


def backwards(apps, schema_editor):
    """Cache the balances again (the sum of each account's entries)."""
    account = apps.get_model("ledger", "LedgerAccount")
    entry = apps.get_model("ledger", "LedgerEntry")
    for row in account.objects.filter(derived=True):
        total = entry.objects.filter(account_id=row.pk).aggregate(t=models.Sum("amount"))["t"]
        account.objects.filter(pk=row.pk).update(balance=total or 0, derived=False)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_drop_like_indexes"),
        ("ledger", "0003_no_foreign_keys_on_hot_tables"),
    ]

    operations = [
        migrations.AddField(
            model_name="ledgeraccount",
            name="derived",
            field=models.BooleanField(
                default=False, editable=False, verbose_name="derived balance"
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="balance_after",
            field=models.BigIntegerField(blank=True, null=True, verbose_name="balance after"),
        ),
        migrations.AddConstraint(
            model_name="ledgeraccount",
            constraint=models.CheckConstraint(
                condition=models.Q(("derived", False), ("min_balance__isnull", True), _connector="OR"),
                name="ledger_account_derived_no_floor",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
