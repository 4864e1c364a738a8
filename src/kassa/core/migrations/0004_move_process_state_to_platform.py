# The scheduler's and the worker's models moved to the platform app with the processes that
# use them. Their tables stay where they are: only Django's state changes here.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("core", "0003_drop_like_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="PeriodicJobState"),
                migrations.DeleteModel(name="WorkerHeartbeat"),
            ],
            database_operations=[],
        )
    ]
