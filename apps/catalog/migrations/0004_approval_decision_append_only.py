"""Approval decisions are append-only in the database: PostgreSQL refuses UPDATE, DELETE and TRUNCATE.
Their time is set when they are recorded (the demo records past decisions at their own time) and never after."""
import django.utils.timezone
from django.db import migrations, models

from apps.core.append_only import append_only


class Migration(migrations.Migration):

    dependencies = [("catalog", "0003_version_contributor")]

    operations = [
        migrations.AlterField(model_name="approvaldecision", name="created_at",
                              field=models.DateTimeField(default=django.utils.timezone.now, editable=False)),
        append_only("catalog_approvaldecision"),
    ]
