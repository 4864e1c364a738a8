# Customer moved to the customers app with its table (customers 0001). This removes core's copy
# from Django's state only; the table stays. It runs after every foreign key to the model was
# pointed at customers.customer, since a state whose models still point at core.customer
# could not be built once it is gone.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_move_process_state_to_platform"),
        ("customers", "0001_initial"),
        ("bookings", "0002_customer_fk_to_customers_app"),
        ("notifications", "0005_customer_fk_to_customers_app"),
        ("payments", "0006_customer_fk_to_customers_app"),
        ("portal", "0002_customer_fk_to_customers_app"),
        ("wallets", "0004_customer_fk_to_customers_app"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Customer")],
            database_operations=[],
        )
    ]
