# The tables were created by core 0001 and keep their names; this takes over Django's state.
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [("core", "0004_move_process_state_to_platform")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PeriodicJobState",
                    fields=[
                        ("name", models.CharField(max_length=100, primary_key=True, serialize=False)),
                        ("next_run_at", models.DateTimeField()),
                        ("last_run_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={"db_table": "core_periodicjobstate"},
                ),
                migrations.CreateModel(
                    name="WorkerHeartbeat",
                    fields=[
                        ("worker_id", models.CharField(max_length=64, primary_key=True, serialize=False)),
                        ("hostname", models.CharField(max_length=200)),
                        ("pid", models.IntegerField()),
                        ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "last_seen",
                            models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                        ),
                    ],
                    options={"db_table": "core_workerheartbeat"},
                ),
            ],
            database_operations=[],
        )
    ]
