# Customer moved from core to the customers app (customers 0001) and kept its table,
# core_customer, so the foreign key constraints here already reference the right table: only
# Django's state changes, no SQL runs. (Django 6.1 would skip an ALTER whose target table is
# unchanged anyway; stating it keeps the move free of DDL whatever a later Django decides.)
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0004_customer_webhook_secret_encrypted"),
        ("customers", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="customerwebhook",
                    name="customer",
                    field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name="notification_webhook", to="customers.customer"),
                ),
                migrations.AlterField(
                    model_name="notification",
                    name="customer",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="notifications", to="customers.customer"),
                ),
                migrations.AlterField(
                    model_name="notificationpreference",
                    name="customer",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="notification_preferences", to="customers.customer"),
                ),
                migrations.AlterField(
                    model_name="pushsubscription",
                    name="customer",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="push_subscriptions", to="customers.customer"),
                ),
            ],
            database_operations=[],
        )
    ]
