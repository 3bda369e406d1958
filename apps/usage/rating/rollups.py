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

Two coarser rollups are kept from usage_daily by the same calls (`update_rollups`, `rebuild_rollups`), in the same
transaction: usage_weekly (customer x meter x week) and usage_daily_meter (meter x day, every customer). On
PostgreSQL the touched buckets' daily rows are taken out of their weeks before the daily rows change and added back
after, and each organisation day gets a row with the new daily rows minus the old ones, merged with the day's other
rows that no open transaction holds (WEEKLY_SUMS, METER_DAY_SUMS): additions of exact numerics, so the coarse rows
stay the exact sums of the daily rows, and a run never waits for another run's transaction (the organisation days
are shared by every customer).
On SQLite the touched weeks and days are recomputed from usage_daily in Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import Q
from django.utils import timezone

from apps.core.money import ZERO

from ..models import (
    METER_DAY_SUMS,
    WEEKLY_SUMS,
    DailyAttribution,
    DailyMeterTotal,
    DailyUsage,
    RatedUsage,
    WeeklyUsage,
    week_of,
)
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


# The coarse rollups around a change of usage_daily's rows in `buckets`. Before: their weeks lose the buckets'
# daily rows, and the organisation days' share of them is read. After: the weeks gain the buckets' new daily rows
# (usage_weekly rows belong to one customer, whose lock rating holds), the organisation days get a row with new minus
# old, and then the rows of those days are merged into one per meter and day, skipping rows another open
# transaction holds (usage_daily_meter rows are shared by every customer: a run never waits for another's).
_PG_BUCKET_ROWS = f"""
    SELECT t.customer_id, t.meter_id, t.day, t.events, {", ".join(f"t.{c}" for c in dict.fromkeys(WEEKLY_SUMS + METER_DAY_SUMS))}
    FROM usage_daily t JOIN unnest(%s::bigint[], %s::date[]) AS b(customer_id, day)
         ON t.customer_id = b.customer_id AND t.day = b.day
"""  # noqa: S608 - column names from the definitions above


def _pg_weekly(sign: int) -> str:
    return f"""
    INSERT INTO usage_weekly AS w (customer_id, meter_id, week, events, {", ".join(WEEKLY_SUMS)})
    SELECT d.customer_id, d.meter_id, date_trunc('week', d.day)::date, {sign} * SUM(d.events),
           {", ".join(f"{sign} * SUM(d.{c})" for c in WEEKLY_SUMS)}
    FROM d GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (customer_id, meter_id, week) DO UPDATE SET
        {", ".join(f"{c} = w.{c} + EXCLUDED.{c}" for c in ("events", *WEEKLY_SUMS))}
    """  # noqa: S608 - column names from the definitions above


_METER_DAY_COLUMNS = ("events", *METER_DAY_SUMS)
_NONZERO = " OR ".join(f"SUM(x.{c}) <> 0" for c in _METER_DAY_COLUMNS)

_PG_COARSE_BEFORE = f"""
WITH d AS MATERIALIZED ({_PG_BUCKET_ROWS}), weekly AS ({_pg_weekly(-1)})
SELECT d.day, d.meter_id, {", ".join(f"SUM(d.{c})" for c in _METER_DAY_COLUMNS)}
FROM d GROUP BY 1, 2
"""  # noqa: S608 - column names from the definitions above

_PG_COARSE_AFTER = f"""
WITH d AS MATERIALIZED ({_PG_BUCKET_ROWS}), weekly AS ({_pg_weekly(1)})
INSERT INTO usage_daily_meter (day, meter_id, {", ".join(_METER_DAY_COLUMNS)})
SELECT x.day, x.meter_id, {", ".join(f"SUM(x.{c})" for c in _METER_DAY_COLUMNS)}
FROM (
    SELECT d.day, d.meter_id, {", ".join(f"d.{c}" for c in _METER_DAY_COLUMNS)} FROM d
    UNION ALL
    SELECT o.day, o.meter_id, {", ".join(f"-o.{c}" for c in _METER_DAY_COLUMNS)}
    FROM unnest(%s::date[], %s::bigint[], %s::bigint[], {", ".join("%s::numeric[]" for _ in METER_DAY_SUMS)})
         AS o(day, meter_id, {", ".join(_METER_DAY_COLUMNS)})
) AS x
GROUP BY 1, 2 HAVING {_NONZERO}
"""  # noqa: S608 - column names from the definitions above, values as parameters

# Merge the rows of the days into one per meter and day (dropping those that sum to zero), leaving alone the rows an
# open transaction holds (SKIP LOCKED): another run merging them, whose merged row appears when it commits.
_PG_METER_DAY_MERGE = f"""
WITH gone AS (
    DELETE FROM usage_daily_meter WHERE id IN (
        SELECT id FROM usage_daily_meter WHERE day = ANY(%s::date[]) FOR UPDATE SKIP LOCKED
    )
    RETURNING day, meter_id, {", ".join(_METER_DAY_COLUMNS)}
)
INSERT INTO usage_daily_meter (day, meter_id, {", ".join(_METER_DAY_COLUMNS)})
SELECT x.day, x.meter_id, {", ".join(f"SUM(x.{c})" for c in _METER_DAY_COLUMNS)}
FROM gone AS x GROUP BY 1, 2 HAVING {_NONZERO}
"""  # noqa: S608 - column names from the definitions above, values as parameters


def _pg_coarse_before(cursor: CursorWrapper, pairs: list[tuple[int, date]]) -> list[tuple]:
    """Take the buckets' daily rows out of their weeks; return their sums per organisation day (for the after)."""
    cursor.execute(_PG_COARSE_BEFORE, [[c for c, _ in pairs], [d for _, d in pairs]])
    return cursor.fetchall()


def _pg_coarse_after(cursor: CursorWrapper, pairs: list[tuple[int, date]], before: list[tuple]) -> None:
    columns = [list(column) for column in zip(*before, strict=True)] or [[] for _ in range(3 + len(METER_DAY_SUMS))]
    cursor.execute(_PG_COARSE_AFTER, [[c for c, _ in pairs], [d for _, d in pairs], *columns])
    cursor.execute(_PG_METER_DAY_MERGE, [sorted({d for _, d in pairs})])


def refill_coarse_rollups() -> None:
    """PostgreSQL: replace usage_weekly and usage_daily_meter with the sums of every usage_daily row (after a bulk
    load of usage_daily, such as the dashboard benchmark's; rating keeps them itself)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM usage_weekly")
        cursor.execute("DELETE FROM usage_daily_meter")
        cursor.execute(f"""
            INSERT INTO usage_weekly (customer_id, meter_id, week, events, {", ".join(WEEKLY_SUMS)})
            SELECT customer_id, meter_id, date_trunc('week', day)::date, SUM(events),
                   {", ".join(f"SUM({c})" for c in WEEKLY_SUMS)}
            FROM usage_daily GROUP BY 1, 2, 3 ORDER BY 3, 1, 2
        """)  # noqa: S608 - column names from the definitions above
        cursor.execute(f"""
            INSERT INTO usage_daily_meter (day, meter_id, events, {", ".join(METER_DAY_SUMS)})
            SELECT day, meter_id, SUM(events), {", ".join(f"SUM({c})" for c in METER_DAY_SUMS)}
            FROM usage_daily GROUP BY 1, 2 ORDER BY 1, 2
        """)  # noqa: S608 - column names from the definitions above


def _recompute_coarse(pairs: list[tuple[int, date]]) -> None:
    """SQLite: recompute the touched weeks and organisation days from usage_daily, summed in Python with Decimal."""
    weeks = {(c, week_of(d)) for c, d in pairs}
    days = sorted({d for _, d in pairs})
    customers = sorted({c for c, _ in weeks})
    starts = sorted({w for _, w in weeks})
    weekly: dict[tuple[int, int, date], list] = {}
    rows = DailyUsage.objects.filter(
        customer_id__in=customers, day__gte=starts[0], day__lt=starts[-1] + timedelta(days=7)
    ).values_list("customer_id", "meter_id", "day", "events", *WEEKLY_SUMS)
    for customer_id, meter_id, day, events, *sums in rows:
        if (customer_id, week_of(day)) not in weeks:
            continue
        acc = weekly.setdefault((customer_id, meter_id, week_of(day)), [0] + [ZERO] * len(WEEKLY_SUMS))
        acc[0] += events
        for i, value in enumerate(sums):
            acc[1 + i] += value
    for customer_id, week in weeks:
        WeeklyUsage.objects.filter(customer_id=customer_id, week=week).delete()
    fast_insert(
        WeeklyUsage,
        [
            WeeklyUsage(
                customer_id=c, meter_id=m, week=w, events=acc[0], **dict(zip(WEEKLY_SUMS, acc[1:], strict=True))
            )
            for (c, m, w), acc in weekly.items()
        ],
    )
    by_day: dict[tuple[date, int], list] = {}
    for day, meter_id, events, *sums in DailyUsage.objects.filter(day__in=days).values_list(
        "day", "meter_id", "events", *METER_DAY_SUMS
    ):
        acc = by_day.setdefault((day, meter_id), [0] + [ZERO] * len(METER_DAY_SUMS))
        acc[0] += events
        for i, value in enumerate(sums):
            acc[1 + i] += value
    DailyMeterTotal.objects.filter(day__in=days).delete()
    fast_insert(
        DailyMeterTotal,
        [
            DailyMeterTotal(day=d, meter_id=m, events=acc[0], **dict(zip(METER_DAY_SUMS, acc[1:], strict=True)))
            for (d, m), acc in by_day.items()
        ],
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
    event_ids = [event_id for customer_id, day, event_id in added if (customer_id, day) not in rebuild]
    pairs = sorted(rebuild | {(customer_id, day) for customer_id, day, _ in added})
    if not pairs:
        return
    with connection.cursor() as cursor:
        before = _pg_coarse_before(cursor, pairs)
        _pg_rebuild_daily(cursor, sorted(rebuild), now=now)
        if event_ids:  # one text parameter rather than thousands
            cursor.execute(_PG_ADD, [",".join(map(str, event_ids)), now, now])
        _pg_coarse_after(cursor, pairs, before)


def rebuild_rollups(buckets: set[tuple[int, date]], *, now: datetime | None = None) -> None:
    """Recompute and replace the rollups of the given (customer, day) buckets from the current rated records."""
    if not buckets:
        return
    now = now or timezone.now()
    pairs = sorted(buckets)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            before = _pg_coarse_before(cursor, pairs)
            _pg_rebuild_daily(cursor, pairs, now=now)
            _pg_coarse_after(cursor, pairs, before)
        return
    _rebuild_rollups_exact(pairs, now=now)


def _pg_rebuild_daily(cursor: CursorWrapper, pairs: list[tuple[int, date]], *, now: datetime) -> None:
    if not pairs:
        return
    customers = [c for c, _ in pairs]
    days = [d for _, d in pairs]
    for table in ("usage_daily", "usage_daily_attribution"):
        cursor.execute(_PG_DELETE.format(table=table), [customers, days])
    cursor.execute(_PG_REBUILD, [customers, days, now, now])


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
    _recompute_coarse([(c, d) for c in customers for d in days])


def rebuild_rollups_between(*, start: date, end: date, customer_id: int | None = None) -> int:
    """Rebuild every bucket with records (or rollups) between two days, inclusive. For repairs and re-rating."""
    filters = Q(day__gte=start, day__lte=end)
    if customer_id is not None:
        filters &= Q(customer_id=customer_id)
    buckets = set(RatedUsage.objects.filter(filters).values_list("customer_id", "day").distinct())
    buckets |= set(DailyUsage.objects.filter(filters).values_list("customer_id", "day").distinct())
    rebuild_rollups(buckets)
    return len(buckets)
