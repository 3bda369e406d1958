"""Step 5, rollups: recompute and replace the (customer, day) buckets a run touched from the current records."""
from __future__ import annotations

from datetime import date, datetime

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from apps.core.money import ZERO

from ..models import DailyAttribution, DailyUsage, RatedUsage
from .write import fast_insert

_PG_DAILY = """
INSERT INTO usage_daily (customer_id, meter_id, day, currency, events, quantity, included_quantity, credit_quantity,
                         overage_quantity, over_limit_quantity, amount, credits, overage_amount, revenue, cost,
                         over_limit_events, updated_at)
SELECT r.customer_id, r.meter_id, r.day, MAX(r.currency), COUNT(*), SUM(r.quantity), SUM(r.included_quantity),
       SUM(r.credit_quantity), SUM(r.overage_quantity), SUM(r.over_limit_quantity), SUM(r.amount),
       SUM(r.credits_drawn), SUM(r.overage_amount), SUM(r.revenue), SUM(r.cost),
       COUNT(*) FILTER (WHERE r.over_limit), %s
FROM usage_rated r JOIN unnest(%s::bigint[], %s::date[]) AS b(customer_id, day)
  ON r.customer_id = b.customer_id AND r.day = b.day
WHERE r.superseded_at IS NULL
GROUP BY r.customer_id, r.meter_id, r.day
"""

_PG_ATTRIBUTION = """
INSERT INTO usage_daily_attribution (customer_id, day, kind, value, events, amount, credits, revenue, cost, updated_at)
SELECT r.customer_id, r.day, a.kind, a.value, COUNT(*), SUM(r.amount), SUM(r.credits_drawn), SUM(r.revenue),
       SUM(r.cost), %s
FROM usage_rated r JOIN unnest(%s::bigint[], %s::date[]) AS b(customer_id, day)
  ON r.customer_id = b.customer_id AND r.day = b.day
CROSS JOIN LATERAL (VALUES ('user', r.attr_user), ('agent', r.attr_agent), ('team', r.attr_team)) AS a(kind, value)
WHERE r.superseded_at IS NULL AND a.value <> ''
GROUP BY r.customer_id, r.day, a.kind, a.value
"""

_PG_DELETE = "DELETE FROM {table} t USING unnest(%s::bigint[], %s::date[]) AS b(customer_id, day) " \
             "WHERE t.customer_id = b.customer_id AND t.day = b.day"


def rebuild_rollups(buckets: set[tuple[int, date]], *, now: datetime | None = None) -> None:
    """Recompute and replace the rollups of the given (customer, day) buckets from the current rated records.
    Never increments: a retried or repeated rebuild gives the same rows."""
    if not buckets:
        return
    now = now or timezone.now()
    pairs = sorted(buckets)
    if connection.vendor == "postgresql":
        customers = [c for c, _ in pairs]
        days = [d for _, d in pairs]
        with connection.cursor() as cursor:
            for table in ("usage_daily", "usage_daily_attribution"):
                cursor.execute(_PG_DELETE.format(table=table), [customers, days])
            cursor.execute(_PG_DAILY, [now, customers, days])
            cursor.execute(_PG_ATTRIBUTION, [now, customers, days])
        return
    _rebuild_rollups_python(pairs, now=now)


def _rebuild_rollups_python(pairs: list[tuple[int, date]], *, now: datetime) -> None:
    """The portable path (SQLite): aggregate in Python with Decimal, exactly. Rebuilds every bucket of the
    customers x days cross product (a superset of the pairs: rebuilding a bucket again is harmless)."""
    customers = sorted({c for c, _ in pairs})
    days = sorted({d for _, d in pairs})
    DailyUsage.objects.filter(customer_id__in=customers, day__in=days).delete()
    DailyAttribution.objects.filter(customer_id__in=customers, day__in=days).delete()
    sums = ("quantity", "included_quantity", "credit_quantity", "overage_quantity", "over_limit_quantity",
            "amount", "credits_drawn", "overage_amount", "revenue", "cost")
    daily: dict[tuple[int, int, date], list] = {}
    currency: dict[tuple[int, int, date], str] = {}
    attribution: dict[tuple[int, date, str, str], list] = {}
    rows = (RatedUsage.objects.filter(customer_id__in=customers, day__in=days, superseded_at__isnull=True)
            .values_list("customer_id", "meter_id", "day", "currency", "over_limit", "attr_user", "attr_agent",
                         "attr_team", *sums))
    for row in rows.iterator(chunk_size=5000):
        customer_id, meter_id, day, cur, over_limit, user, agent, team = row[:8]
        values = row[8:]
        key = (customer_id, meter_id, day)
        acc = daily.get(key)
        if acc is None:
            acc = daily[key] = [0, 0] + [ZERO] * len(sums)
            currency[key] = cur
        acc[0] += 1
        acc[1] += 1 if over_limit else 0
        for i, value in enumerate(values):
            acc[2 + i] += value
        amount, credits, revenue, cost = values[5], values[6], values[8], values[9]
        for kind, value in (("user", user), ("agent", agent), ("team", team)):
            if not value:
                continue
            a = attribution.get((customer_id, day, kind, value))
            if a is None:
                a = attribution[(customer_id, day, kind, value)] = [0, ZERO, ZERO, ZERO, ZERO]
            a[0] += 1
            a[1] += amount
            a[2] += credits
            a[3] += revenue
            a[4] += cost
    fast_insert(DailyUsage,
        [DailyUsage(customer_id=c, meter_id=m, day=d, currency=currency[(c, m, d)], events=acc[0],
                    over_limit_events=acc[1], quantity=acc[2], included_quantity=acc[3], credit_quantity=acc[4],
                    overage_quantity=acc[5], over_limit_quantity=acc[6], amount=acc[7], credits=acc[8],
                    overage_amount=acc[9], revenue=acc[10], cost=acc[11], updated_at=now)
         for (c, m, d), acc in daily.items()])
    fast_insert(DailyAttribution,
        [DailyAttribution(customer_id=c, day=d, kind=k, value=v, events=a[0], amount=a[1], credits=a[2],
                          revenue=a[3], cost=a[4], updated_at=now)
         for (c, d, k, v), a in attribution.items()])


def rebuild_rollups_between(*, start: date, end: date, customer_id: int | None = None) -> int:
    """Rebuild every bucket with records (or rollups) between two days, inclusive. For repairs and re-rating."""
    filters = Q(day__gte=start, day__lte=end)
    if customer_id is not None:
        filters &= Q(customer_id=customer_id)
    buckets = set(RatedUsage.objects.filter(filters).values_list("customer_id", "day").distinct())
    buckets |= set(DailyUsage.objects.filter(filters).values_list("customer_id", "day").distinct())
    rebuild_rollups(buckets)
    return len(buckets)
