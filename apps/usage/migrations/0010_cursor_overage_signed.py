"""Rating cursors count overage signed: a credit note on overage (a volume true-up) frees room under the period's
cap, as it does within one rating run. Recount the cursors of the periods that hold such a credit note (the others
are unchanged), summed in Python with Decimal (exact on SQLite too)."""

from decimal import Decimal

from django.db import migrations


def recount(apps, schema_editor):
    RatedUsage = apps.get_model("usage", "RatedUsage")
    RatingCursor = apps.get_model("usage", "RatingCursor")
    keys = (
        RatedUsage.objects.filter(superseded_at__isnull=True, overage_units__lt=0)
        .values_list("customer_id", "meter_id", "period_start")
        .distinct()
    )
    for customer_id, meter_id, period_start in keys:
        total = sum(
            RatedUsage.objects.filter(
                customer_id=customer_id, meter_id=meter_id, period_start=period_start, superseded_at__isnull=True
            ).values_list("overage_units", flat=True),
            Decimal(0),
        )
        RatingCursor.objects.filter(customer_id=customer_id, meter_id=meter_id, period_start=period_start).update(
            overage_units=total
        )


class Migration(migrations.Migration):
    dependencies = [("usage", "0009_coarse_rollups")]

    operations = [migrations.RunPython(recount, migrations.RunPython.noop)]
