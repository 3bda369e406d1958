"""Step 5, rollups: bring the (customer, day) buckets a run touched up to date with the current records.

One computation: the rollups are defined once, below (DAILY_SUMS, ATTRIBUTION_SUMS: which record figure each
rollup column sums), and computed in SQL on PostgreSQL from that definition. A bucket where the run superseded
records is recomputed and replaced from all its current records (one statement reads them once and inserts both
rollups). A bucket the run only added records to gets the sums of the added records added to it, in the same
transaction as the records: numeric addition is exact in PostgreSQL, so the result is the same row a rebuild
would give (the invariance tests compare both), and the cost of a batch no longer grows with how much the day
already holds (a rebuild re-read every current record of each touched customer-day, batch after batch). A retried
run is a new transaction over the records it writes, so nothing is added twice. SQLite is the one exception, because
it truly needs it: it keeps numeric columns in floating point, so its SUM would not be exact to the 12th place;
there every touched bucket is rebuilt, with the same definition summed in Python with Decimal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from apps.core.money import ZERO

from ..models import DailyAttribution, DailyUsage, RatedUsage
from .types import ATTRIBUTION_KEYS
from .write import fast_insert

# rollup column <- the rated records' column it sums (besides: events = count, currency, over_limit_events)
DAILY_SUMS = (
    ("quantity", "quantity"),
    ("included_quantity", "included_quantity"),
    ("credit_quantity", "credit_quantity"),
    ("overage_quantity", "overage_quantity"),
    ("over_limit_quantity", "over_limit_quantity"),
    ("amount", "amount"),
    ("credits", "credits_drawn"),
    ("overage_amount", "overage_amount"),
    ("revenue", "revenue"),
    ("cost", "cost"),
)
ATTRIBUTION_SUMS = (("amount", "amount"), ("credits", "credits_drawn"), ("revenue", "revenue"), ("cost", "cost"))

# One scan of the buckets' current records feeds both rollups (a writable CTE inserts the daily rows).
_SOURCES = tuple(dict.fromkeys([s for _, s in DAILY_SUMS] + [s for _, s in ATTRIBUTION_SUMS]))


def _pg_rollup_sql(*, records: str, add: bool) -> str:
    """The statement writing both rollups from `records` (a FROM clause over usage_rated r) in one scan: inserted
    as new rows (after the buckets were deleted: a rebuild), or added to the buckets' rows (`add`)."""

    def on_conflict(key: str, counts: tuple[str, ...], sums: tuple[tuple[str, str], ...], extra: str = "") -> str:
        if not add:
            return ""
        added = ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in (*counts, *(column for column, _ in sums)))
        return f"ON CONFLICT ({key}) DO UPDATE SET {extra}{added}, updated_at = EXCLUDED.updated_at"

    return f"""
WITH r AS MATERIALIZED (
    SELECT r.customer_id, r.meter_id, r.day, r.currency, r.over_limit,
           {", ".join(f"r.attr_{k}" for k in ATTRIBUTION_KEYS)}, {", ".join(f"r.{s}" for s in _SOURCES)}
    FROM {records} AND r.superseded_at IS NULL
), daily AS (
    INSERT INTO usage_daily AS t (customer_id, meter_id, day, currency, events, over_limit_events,
                                  {", ".join(column for column, _ in DAILY_SUMS)}, updated_at)
    SELECT r.customer_id, r.meter_id, r.day, MAX(r.currency), COUNT(*), COUNT(*) FILTER (WHERE r.over_limit),
           {", ".join(f"SUM(r.{source})" for _, source in DAILY_SUMS)}, %s
    FROM r
    GROUP BY r.customer_id, r.meter_id, r.day
    {
        on_conflict(
            "customer_id, meter_id, day",
            ("events", "over_limit_events"),
            DAILY_SUMS,
            "currency = GREATEST(t.currency, EXCLUDED.currency), ",
        )
    }
)
INSERT INTO usage_daily_attribution AS t (customer_id, day, kind, value, events,
                                          {", ".join(column for column, _ in ATTRIBUTION_SUMS)}, updated_at)
SELECT r.customer_id, r.day, a.kind, a.value, COUNT(*),
       {", ".join(f"SUM(r.{source})" for _, source in ATTRIBUTION_SUMS)}, %s
FROM r
CROSS JOIN LATERAL (VALUES {", ".join(f"('{k}', r.attr_{k})" for k in ATTRIBUTION_KEYS)}) AS a(kind, value)
WHERE a.value <> ''
GROUP BY r.customer_id, r.day, a.kind, a.value
{on_conflict("customer_id, day, kind, value", ("events",), ATTRIBUTION_SUMS)}
"""  # noqa: S608 - column names from the definitions above, values as parameters


# Rebuild: every current record of the buckets (after their rollup rows were deleted).
_PG_REBUILD = _pg_rollup_sql(
    records="usage_rated r JOIN unnest(%s::bigint[], %s::date[]) AS b(customer_id, day) "
    "ON r.customer_id = b.customer_id AND r.day = b.day WHERE TRUE",
    add=False,
)
# Add: the records a run added (by event: one current record per event), summed per bucket.
_PG_ADD = _pg_rollup_sql(records="usage_rated r WHERE r.event_id = ANY(string_to_array(%s, ',')::bigint[])", add=True)

_PG_DELETE = (
    "DELETE FROM {table} t USING unnest(%s::bigint[], %s::date[]) AS b(customer_id, day) "
    "WHERE t.customer_id = b.customer_id AND t.day = b.day"
)


def update_rollups(
    *, rebuild: set[tuple[int, date]], added: Iterable[tuple[int, date, int]], now: datetime | None = None
) -> None:
    """After a rating run: rebuild the buckets in `rebuild` (records were superseded there) and add the records
    `added` (customer, day, event id) elsewhere to their buckets."""
    now = now or timezone.now()
    if connection.vendor != "postgresql":
        rebuild_rollups(rebuild | {(customer_id, day) for customer_id, day, _ in added}, now=now)
        return
    rebuild_rollups(rebuild, now=now)
    event_ids = [event_id for customer_id, day, event_id in added if (customer_id, day) not in rebuild]
    if event_ids:
        with connection.cursor() as cursor:  # one text parameter rather than thousands
            cursor.execute(_PG_ADD, [",".join(map(str, event_ids)), now, now])


def rebuild_rollups(buckets: set[tuple[int, date]], *, now: datetime | None = None) -> None:
    """Recompute and replace the rollups of the given (customer, day) buckets from the current rated records."""
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
            cursor.execute(_PG_REBUILD, [customers, days, now, now])
        return
    _rebuild_rollups_exact(pairs, now=now)


def _rebuild_rollups_exact(pairs: list[tuple[int, date]], *, now: datetime) -> None:
    """SQLite: the same definition summed in Python with Decimal, exactly. Rebuilds every bucket of the
    customers x days cross product (a superset of the pairs: rebuilding a bucket again is harmless)."""
    customers = sorted({c for c, _ in pairs})
    days = sorted({d for _, d in pairs})
    DailyUsage.objects.filter(customer_id__in=customers, day__in=days).delete()
    DailyAttribution.objects.filter(customer_id__in=customers, day__in=days).delete()
    sources = list(_SOURCES)
    daily_at = [sources.index(s) for _, s in DAILY_SUMS]
    attribution_at = [sources.index(s) for _, s in ATTRIBUTION_SUMS]
    daily: dict[tuple[int, int, date], list] = {}
    currency: dict[tuple[int, int, date], str] = {}
    attribution: dict[tuple[int, date, str, str], list] = {}
    rows = RatedUsage.objects.filter(customer_id__in=customers, day__in=days, superseded_at__isnull=True).values_list(
        "customer_id", "meter_id", "day", "currency", "over_limit", *(f"attr_{k}" for k in ATTRIBUTION_KEYS), *sources
    )
    head = 5 + len(ATTRIBUTION_KEYS)
    for row in rows.iterator(chunk_size=5000):
        customer_id, meter_id, day, cur, over_limit = row[:5]
        values: tuple[Decimal, ...] = row[head:]
        key = (customer_id, meter_id, day)
        acc = daily.get(key)
        if acc is None:
            acc = daily[key] = [0, 0] + [ZERO] * len(DAILY_SUMS)
            currency[key] = cur
        acc[0] += 1
        acc[1] += 1 if over_limit else 0
        for i, at in enumerate(daily_at):
            acc[2 + i] += values[at]
        for kind, value in zip(ATTRIBUTION_KEYS, row[5:head], strict=True):
            if not value:
                continue
            a = attribution.get((customer_id, day, kind, value))
            if a is None:
                a = attribution[(customer_id, day, kind, value)] = [0] + [ZERO] * len(ATTRIBUTION_SUMS)
            a[0] += 1
            for i, at in enumerate(attribution_at):
                a[1 + i] += values[at]
    fast_insert(
        DailyUsage,
        [
            DailyUsage(
                customer_id=c,
                meter_id=m,
                day=d,
                currency=currency[(c, m, d)],
                events=acc[0],
                over_limit_events=acc[1],
                updated_at=now,
                **{column: acc[2 + i] for i, (column, _) in enumerate(DAILY_SUMS)},
            )
            for (c, m, d), acc in daily.items()
        ],
    )
    fast_insert(
        DailyAttribution,
        [
            DailyAttribution(
                customer_id=c,
                day=d,
                kind=k,
                value=v,
                events=a[0],
                updated_at=now,
                **{column: a[1 + i] for i, (column, _) in enumerate(ATTRIBUTION_SUMS)},
            )
            for (c, d, k, v), a in attribution.items()
        ],
    )


def rebuild_rollups_between(*, start: date, end: date, customer_id: int | None = None) -> int:
    """Rebuild every bucket with records (or rollups) between two days, inclusive. For repairs and re-rating."""
    filters = Q(day__gte=start, day__lte=end)
    if customer_id is not None:
        filters &= Q(customer_id=customer_id)
    buckets = set(RatedUsage.objects.filter(filters).values_list("customer_id", "day").distinct())
    buckets |= set(DailyUsage.objects.filter(filters).values_list("customer_id", "day").distinct())
    rebuild_rollups(buckets)
    return len(buckets)
