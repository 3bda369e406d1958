"""Revenue recognised from prepaid credits, by meter: which meters' usage consumed the paid credits that a month's
debits drew (the deferred-revenue page of insights). Reads only.

Rating writes one debit per customer, batch and billing period, split over the rated records that needed credits
(each record's `ledger_entry` is that debit, its allocations are its exact share). So the credits revenue a debit
recognised is the sum over its records, superseded ones included (a later give-back is an adjustment of the month
it happened, not a correction of this debit), of `revenue - overage_amount` (what the drawn credits were paid for;
overage is billed in arrears, not drawn from prepaid credits). Debits not written by rating (manual or API debits)
have no records: the page shows them as not attributed to a meter.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connections, models
from django.db.models import F, Sum

from apps.core.money import DECIMAL_PLACES, MAX_DIGITS, ZERO

from .models import RatedUsage

# A debit happens at the latest instant of the usage it pays for, within one billing period (at most a month):
# its records are at most this much older than the debit (narrows the scan).
RECORD_LOOKBACK = timedelta(days=40)


def credit_revenue_by_meter(*, start: datetime, end: datetime) -> dict[int, Decimal]:
    """meter id -> revenue of the paid credits drawn by the debits effective in [start, end)."""
    records = RatedUsage.objects.filter(
        ledger_entry__entry_type="debit",
        ledger_entry__effective_at__gte=start,
        ledger_entry__effective_at__lt=end,
        timestamp__gte=start - RECORD_LOOKBACK,
    )
    if connections[records.db].vendor == "sqlite":  # SQLite adds decimals in floating point: add them here
        totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
        for meter_id, revenue, overage in records.values_list("meter_id", "revenue", "overage_amount"):
            totals[meter_id] += revenue - overage
        return dict(totals)
    credit_revenue = models.ExpressionWrapper(
        F("revenue") - F("overage_amount"),
        output_field=models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES),
    )
    return {
        row["meter_id"]: row["total"]
        for row in records.values("meter_id").annotate(total=Sum(credit_revenue)).order_by()
    }
