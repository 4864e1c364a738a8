# Customer moved from core to the customers app (customers 0001) and kept its table,
# core_customer, so the foreign key constraints here already reference the right table: only
# Django's state changes, no SQL runs. (Django 6.1 would skip an ALTER whose target table is
# unchanged anyway; stating it keeps the move free of DDL whatever a later Django decides.)
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0003_alter_wallet_organization"),
        ("customers", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="wallet",
                    name="customer",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="wallets", to="customers.customer"),
                ),
            ],
            database_operations=[],
        )
    ]
