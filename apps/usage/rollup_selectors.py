"""Reads of the daily rollups (usage_daily, usage_daily_attribution) for the dashboards and alert evaluation, and of
the coarse rollups kept from usage_daily (usage_weekly, usage_daily_meter) where a read spans every customer: the
same figures (Decimal-equal: exact numeric sums) from far fewer rows.

Re-exported by `apps.usage.selectors`, the one door other apps use: insights and alerts import them from there.
Days are whole UTC days, both ends inclusive. Plain data out; Decimal throughout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection, models
from django.db.models import F, Max, Min, Q, Sum, Value
from django.db.models.functions import Coalesce

from apps.core.money import DECIMAL_PLACES, MAX_DIGITS, ZERO

from .models import METER_DAY_SUMS, DailyAttribution, DailyMeterTotal, DailyUsage, week_of


def _decimal() -> models.DecimalField:
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)


def _included_cost(q: Q | None = None):
    """Cost of the part of each bucket covered by the included allowance (proportional to quantity): what the
    base fee pays for. Margin % is judged on charged usage, so an allowance is not a "below cost" price.
    Buckets are nearly always wholly included or not at all, so only the rare partial one divides."""
    whole = Q(quantity__gt=0, included_quantity__gte=F("quantity"))
    partial = Q(included_quantity__gt=0, included_quantity__lt=F("quantity"))
    if q is not None:
        whole, partial = whole & q, partial & q
    return Coalesce(Sum("cost", filter=whole), Value(ZERO), output_field=_decimal()) + Coalesce(
        Sum(F("cost") * F("included_quantity") / F("quantity"), filter=partial, output_field=_decimal()),
        Value(ZERO),
        output_field=_decimal(),
    )


# Aggregate aliases differ from field names, so F() in _included_cost still means the row's fields.
_AGGREGATES = {
    "events": lambda: Sum("events"),
    "quantity": lambda: Sum("quantity"),
    "revenue": lambda: Sum("revenue"),
    "cost": lambda: Sum("cost"),
    "included_cost": _included_cost,
    "amount": lambda: Sum("amount"),
    "credits": lambda: Sum("credits"),
    "overage_amount": lambda: Sum("overage_amount"),
}


def _totals(*names: str) -> dict:
    """Only the sums a page needs: each numeric SUM over the range's rows costs time."""
    return {f"t_{n}": _AGGREGATES[n]() for n in (names or _AGGREGATES)}


@dataclass(frozen=True)
class MeterDay:
    day: date
    meter_id: int
    events: int
    quantity: Decimal
    revenue: Decimal
    cost: Decimal
    amount: Decimal
    credits: Decimal
    overage_amount: Decimal
    included_cost: Decimal = ZERO

    @property
    def charged_cost(self) -> Decimal:
        return self.cost - self.included_cost


def _meter_day(row: dict) -> MeterDay:
    return MeterDay(
        day=row["day"],
        meter_id=row["meter_id"],
        events=int(row.get("t_events") or 0),
        quantity=row.get("t_quantity") or ZERO,
        revenue=row.get("t_revenue") or ZERO,
        cost=row.get("t_cost") or ZERO,
        amount=row.get("t_amount") or ZERO,
        credits=row.get("t_credits") or ZERO,
        overage_amount=row.get("t_overage_amount") or ZERO,
        included_cost=row.get("t_included_cost") or ZERO,
    )


def rollup_days_by_meter(
    *, start: date, end: date, customer_id: int | None = None, fields: tuple[str, ...] = ()
) -> list[MeterDay]:
    """One row per day x meter in [start, end] (one customer, or every customer together): one query.
    `fields`: only these sums (the others read as zero)."""
    if customer_id is None and "events" in fields and set(fields) <= {"events", *METER_DAY_SUMS}:
        # every customer together: the meter x day rollup (a row per meter a day), with the same sums
        rows = (
            DailyMeterTotal.objects.filter(day__gte=start, day__lte=end)
            .values("day", "meter_id")
            .annotate(**{f"t_{name}": Sum(name) for name in fields})
            .filter(t_events__gt=0)
            .order_by("day", "meter_id")
        )
        return [_meter_day(r) for r in rows]
    qs = DailyUsage.objects.filter(day__gte=start, day__lte=end)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    rows = qs.values("day", "meter_id").annotate(**_totals(*fields)).order_by("day", "meter_id")
    return [_meter_day(r) for r in rows]


def rollup_days_since(*, starts: dict[int, date], until: date) -> dict[int, list[MeterDay]]:
    """Many customers' day x meter rows, each from its own start day up to `until` (inclusive): one query."""
    days: dict[int, list[MeterDay]] = defaultdict(list)
    if not starts:
        return days
    q = Q()
    for customer_id, start in starts.items():
        q |= Q(customer_id=customer_id, day__gte=start)
    for r in (
        DailyUsage.objects.filter(q, day__lte=until).values("customer_id", "day", "meter_id").annotate(**_totals())
    ):
        days[r["customer_id"]].append(_meter_day(r))
    return days


@dataclass(frozen=True)
class CustomerMeterTotal:
    customer_id: int
    meter_id: int
    events: int
    quantity: Decimal
    amount: Decimal
    revenue: Decimal
    cost: Decimal
    included_quantity: Decimal
    first_day: date | None = None
    last_day: date | None = None


# Ranges at least this long are summed from whole weeks (usage_weekly) corrected by a few days at each end.
WEEKLY_FROM_DAYS = 14


def _week_pieces(start: date, end: date) -> tuple[date, date, list[date], list[date]] | None:
    """[start, end] as whole weeks (first and last Monday) plus the days to add and the days to take away: at each
    end, whichever is fewer (at most 3 days) of the range's days in a partial week (added, without that week) or the
    week's days outside the range (taken away). None for short ranges (read day by day)."""
    if (end - start).days + 1 < WEEKLY_FROM_DAYS:
        return None
    first, last = week_of(start), week_of(end)
    plus: list[date] = []
    minus: list[date] = []
    before = (start - first).days  # days of the first week before the range
    if before > 3:
        plus += [start + timedelta(days=i) for i in range(7 - before)]
        first += timedelta(days=7)
    else:
        minus += [first + timedelta(days=i) for i in range(before)]
    after = 6 - (end - last).days  # days of the last week after the range
    if after > 3:
        plus += [last + timedelta(days=i) for i in range(7 - after)]
        last -= timedelta(days=7)
    else:
        minus += [end + timedelta(days=1 + i) for i in range(after)]
    return first, last, plus, minus


def _weekly_sums(start: date, end: date, *, by: str, sums: tuple[str, ...]) -> list[tuple] | None:
    """Sums of usage_daily over [start, end] per `by` ("customer_id" or "customer_id, meter_id"), read from whole
    weeks plus and minus a few days (exact: numeric additions); None where that does not apply (short ranges,
    SQLite). Rows: the `by` columns, events, then `sums`, for the keys with usage in the range."""
    pieces = _week_pieces(start, end)
    if pieces is None or connection.vendor != "postgresql":
        return None
    first, last, plus, minus = pieces
    columns = ("events", *sums)
    # the days taken away are negated in their (few) rows, so the weeks' rows are summed as they are
    signed = ", ".join(f"CASE WHEN day = ANY(%(minus)s::date[]) THEN -{c} ELSE {c} END" for c in columns)
    sql = f"""
        SELECT {", ".join(f"x.{k.strip()}" for k in by.split(","))}, {", ".join(f"SUM(x.{c})" for c in columns)}
        FROM (
            SELECT {by}, {", ".join(columns)} FROM usage_weekly WHERE week >= %(first)s AND week <= %(last)s
            UNION ALL
            SELECT {by}, {signed} FROM usage_daily WHERE day = ANY(%(days)s::date[])
        ) AS x
        GROUP BY {by}
        HAVING SUM(x.events) > 0
    """  # noqa: S608 - column names from this module, values as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, {"first": first, "last": last, "minus": minus, "days": plus + minus})
        return cursor.fetchall()


def rollup_customer_meter_totals(*, start: date, end: date, with_days: bool = True) -> list[CustomerMeterTotal]:
    """Customer x meter totals over [start, end] (one query); without `with_days` the first and last days with
    usage are not looked up (None), and ranges of two weeks or more are read from the weekly rollup."""
    if not with_days:
        wanted = ("quantity", "amount", "revenue", "cost", "included_quantity")
        rows = _weekly_sums(start, end, by="customer_id, meter_id", sums=wanted)
        if rows is not None:
            return [
                CustomerMeterTotal(c, m, int(events), quantity, amount, revenue, cost, included)
                for c, m, events, quantity, amount, revenue, cost, included in rows
            ]
    extra = {"first_day": Min("day"), "last_day": Max("day")} if with_days else {}
    rows = (
        DailyUsage.objects.filter(day__gte=start, day__lte=end)
        .values("customer_id", "meter_id")
        .annotate(
            **_totals("events", "revenue", "cost", "amount", "quantity"), t_included=Sum("included_quantity"), **extra
        )
    )
    return [
        CustomerMeterTotal(
            r["customer_id"],
            r["meter_id"],
            int(r["t_events"] or 0),
            r["t_quantity"] or ZERO,
            r["t_amount"] or ZERO,
            r["t_revenue"] or ZERO,
            r["t_cost"] or ZERO,
            r["t_included"] or ZERO,
            r.get("first_day"),
            r.get("last_day"),
        )
        for r in rows
    ]


ROLLUP_MEASURES = ("events", "cost", "revenue")


def rollup_customer_measure(*, start: date, end: date, measure: str) -> dict[int, Decimal]:
    """One measure (events, cost or revenue) per customer over [start, end] (one query with one sum)."""
    if measure not in ROLLUP_MEASURES:
        raise ValueError(f"unknown measure {measure!r}")
    rows = _weekly_sums(start, end, by="customer_id", sums=() if measure == "events" else (measure,))
    if rows is not None:
        return {row[0]: Decimal(row[-1] or 0) for row in rows}
    return {
        cid: Decimal(total or 0)
        for cid, total in DailyUsage.objects.filter(day__gte=start, day__lte=end)
        .values("customer_id")
        .annotate(total=Sum(measure))
        .order_by()
        .values_list("customer_id", "total")
    }


@dataclass(frozen=True)
class AttributionTotal:
    kind: str
    value: str
    events: int
    amount: Decimal
    credits: Decimal
    revenue: Decimal
    cost: Decimal


def rollup_attribution(
    *, customer_id: int, start: date, end: date, limit: int = 10
) -> dict[str, list[AttributionTotal]]:
    """Top users, agents and teams by amount (then events) over [start, end] (one query)."""
    rows = (
        DailyAttribution.objects.filter(customer_id=customer_id, day__gte=start, day__lte=end)
        .values("kind", "value")
        .annotate(
            events=Sum("events"), amount=Sum("amount"), credits=Sum("credits"), revenue=Sum("revenue"), cost=Sum("cost")
        )
    )
    result: dict[str, list[AttributionTotal]] = {k: [] for k in ("user", "agent", "team")}
    for r in rows:
        result.setdefault(r["kind"], []).append(
            AttributionTotal(
                r["kind"],
                r["value"],
                int(r["events"] or 0),
                r["amount"] or ZERO,
                r["credits"] or ZERO,
                r["revenue"] or ZERO,
                r["cost"] or ZERO,
            )
        )
    for kind, items in result.items():
        items.sort(key=lambda a: (-a.amount, -a.events, a.value))
        result[kind] = items[:limit]
    return result


# --- what alert evaluation needs for one customer -----------------------------------------------------------


@dataclass(frozen=True)
class MeterPeriod:
    meter_id: int
    quantity: Decimal
    revenue: Decimal
    cost: Decimal
    overage_amount: Decimal
    events: int
    included_cost: Decimal = ZERO
    amount: Decimal = ZERO  # in the contract's pricing unit

    @property
    def charged_cost(self) -> Decimal:
        return self.cost - self.included_cost


def meter_days_between(*, customer_id: int, start: date, end: date) -> list[MeterDay]:
    return rollup_days_by_meter(start=start, end=end, customer_id=customer_id)


def daily_quantities(rows: Iterable[MeterDay]) -> dict[int, dict[date, Decimal]]:
    result: dict[int, dict[date, Decimal]] = defaultdict(dict)
    for r in rows:
        result[r.meter_id][r.day] = result[r.meter_id].get(r.day, ZERO) + r.quantity
    return result


def period_totals(rows: Iterable[MeterDay], *, start: date) -> dict[int, MeterPeriod]:
    totals: dict[int, list] = {}
    for r in rows:
        if r.day < start:
            continue
        t = totals.setdefault(r.meter_id, [ZERO, ZERO, ZERO, ZERO, 0, ZERO, ZERO])
        t[0] += r.quantity
        t[1] += r.revenue
        t[2] += r.cost
        t[3] += r.overage_amount
        t[4] += r.events
        t[5] += r.included_cost
        t[6] += r.amount
    return {m: MeterPeriod(m, *t) for m, t in totals.items()}


def customers_with_usage_since(*, day: date) -> list[int]:
    return list(DailyUsage.objects.filter(day__gte=day).values_list("customer_id", flat=True).distinct())


def usage_event_count(*, customer_id: int | None = None) -> int:
    qs = DailyUsage.objects.all()
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    return qs.aggregate(n=Sum("events"))["n"] or 0
