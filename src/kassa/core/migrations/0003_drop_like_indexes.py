"""PostgreSQL: drop the `varchar_pattern_ops` ("_like") indexes that Django created on Kassa's
tables before `kassa.platform.db.postgresql` stopped creating them (no query uses them, and every
write paid for them)."""

from django.db import migrations

APPS = ("core", "ledger", "events", "notifications", "payments", "bookings", "wallets", "portal")


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    tables = [
        model._meta.db_table
        for label in APPS
        for model in apps.get_app_config(label).get_models()
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename = ANY(%s) AND indexname LIKE %s",
            [tables, "%\\_like"],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_alter_idempotencyrecord_organization"),
        ("ledger", "0002_append_only_triggers"),
        ("events", "0003_alter_event_organization_and_more"),
        ("notifications", "0004_customer_webhook_secret_encrypted"),
        ("payments", "0005_alter_gatewayevent_gateway_account_and_more"),
        ("bookings", "0001_bookings"),
        ("wallets", "0003_alter_wallet_organization"),
        ("portal", "0001_portal"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
