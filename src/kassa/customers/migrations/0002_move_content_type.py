# The content type of the moved model follows it (core.customer -> customers.customer), so the
# admin's log entries and any permissions granted on customers keep pointing at it instead of
# at a stale type that `remove_stale_contenttypes` would delete together with them.
# Data only (an UPDATE of one django_content_type row), no schema change. On a fresh database
# there is no row yet (content types are created after `migrate`) and this does nothing; if
# both rows already exist, the old one is left for `remove_stale_contenttypes`.
from django.db import migrations


def _rename(apps, schema_editor, old_label, new_label):
    content_type = apps.get_model("contenttypes", "ContentType")
    manager = content_type.objects.db_manager(schema_editor.connection.alias)
    if manager.filter(app_label=new_label, model="customer").exists():
        return
    manager.filter(app_label=old_label, model="customer").update(app_label=new_label)


def forwards(apps, schema_editor):
    _rename(apps, schema_editor, "core", "customers")


def backwards(apps, schema_editor):
    _rename(apps, schema_editor, "customers", "core")


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
