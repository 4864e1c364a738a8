import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0005_move_customer_state_to_customers")]

    operations = [
        migrations.CreateModel(
            name="SignInFailure",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("username", models.CharField(max_length=254, verbose_name="username")),
                ("ip_address", models.GenericIPAddressField(blank=True, null=True, verbose_name="IP address")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="time")),
            ],
            options={
                "verbose_name": "failed sign-in",
                "verbose_name_plural": "failed sign-ins",
                "indexes": [
                    models.Index(fields=["username", "created_at"], name="core_signin_fail_user"),
                    models.Index(fields=["ip_address", "created_at"], name="core_signin_fail_ip"),
                    models.Index(fields=["created_at"], name="core_signin_fail_time"),
                ],
            },
        ),
    ]
