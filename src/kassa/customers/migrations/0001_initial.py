# Customer moved here from kassa.core. Its table, core_customer, was created by core 0001 and
# keeps its name, columns, index and constraints: this migration only takes the model over in
# Django's state (no SQL on any database; `sqlmigrate customers 0001` prints none). The other
# apps' foreign keys are pointed at it next, and core 0005 then drops core's copy of the state.
# The fields, options and the index name are exactly those of core's state before the move.
import django.db.models.deletion
import django.utils.timezone
import kassa.core.ids
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [("core", "0004_move_process_state_to_platform")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Customer",
                    fields=[
                        (
                            "id",
                            kassa.core.ids.PrefixedIdField(
                                editable=False,
                                max_length=40,
                                prefix="cus",
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("email", models.EmailField(blank=True, max_length=254, verbose_name="email")),
                        ("name", models.CharField(blank=True, max_length=200, verbose_name="name")),
                        ("phone", models.CharField(blank=True, max_length=20, verbose_name="phone")),
                        (
                            "locale",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("en", "English"),
                                    ("de", "Deutsch"),
                                    ("ru", "Русский"),
                                    ("uz", "Oʻzbekcha"),
                                ],
                                max_length=8,
                                verbose_name="locale",
                            ),
                        ),
                        ("metadata", models.JSONField(blank=True, default=dict, verbose_name="metadata")),
                        (
                            "created_at",
                            models.DateTimeField(
                                default=django.utils.timezone.now, editable=False, verbose_name="created"
                            ),
                        ),
                        (
                            "organization",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="customers",
                                to="core.organization",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "customer",
                        "verbose_name_plural": "customers",
                        "db_table": "core_customer",
                        "ordering": ["-id"],
                        "indexes": [
                            models.Index(
                                fields=["organization", "email"], name="core_custom_organiz_041385_idx"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        )
    ]
