"""The organisation overview: consumption, revenue and cost per day, top and growing customers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from apps.contracts.selectors import customer_names
from apps.core.money import ZERO
from apps.usage.selectors import MeterDay, rollup_customer_measure, rollup_days_by_meter

from .common import HUNDRED, DateRange, margin_pct, meter_infos
from .margin import CustomerSums, MarginCell, margin_summary


def org_daily_by_meter(*, period: DateRange, fields: tuple[str, ...] = ()) -> list[MeterDay]:
    """Every customer together: one row per day x meter in the range (one query on the rollup). `fields`: only
    these sums (the others read as zero)."""
    return rollup_days_by_meter(start=period.start, end=period.end, fields=fields)


@dataclass(frozen=True)
class MoneyDay:
    day: date
    revenue: Decimal
    cost: Decimal

    @property
    def margin(self) -> Decimal:
        return self.revenue - self.cost

    @property
    def margin_pct(self) -> Decimal | None:
        return margin_pct(self.revenue, self.cost)


def money_by_day(rows: Iterable[MeterDay], period: DateRange) -> list[MoneyDay]:
    """Revenue and cost per day over the whole range (days without usage are zeros, so lines do not jump)."""
    revenue: dict[date, Decimal] = defaultdict(lambda: ZERO)
    cost: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for r in rows:
        revenue[r.day] += r.revenue
        cost[r.day] += r.cost
    return [MoneyDay(d, revenue[d], cost[d]) for d in period.dates()]


MEASURES = {"events": "Events", "cost": "Cost", "revenue": "Revenue"}
DEFAULT_MEASURE = "events"


def parse_measure(value: str | None) -> str:
    return value if value in MEASURES else DEFAULT_MEASURE


@dataclass(frozen=True)
class CustomerTotal:
    customer_id: int
    external_id: str
    name: str
    events: int
    revenue: Decimal
    cost: Decimal
    previous: Decimal  # the measure over the previous range of the same length
    current: Decimal  # the measure over this range

    @property
    def growth(self) -> Decimal:
        return self.current - self.previous

    @property
    def growth_pct(self) -> Decimal | None:
        if not self.previous:
            return None
        return (self.current - self.previous) / self.previous * HUNDRED


def customer_totals(
    *,
    period: DateRange,
    measure: str = DEFAULT_MEASURE,
    cells: list[MarginCell] | None = None,
    sums: dict[int, CustomerSums] | None = None,
) -> list[CustomerTotal]:
    """Per customer: totals over the range (from the customer x meter cells or their per-customer `sums`
    (`margin_summary`), which the overview has anyway) and the measure over the previous range of the same length
    (one query with one sum)."""
    totals: dict[int, list] = {}
    if cells is not None:
        for c in cells:
            t = totals.setdefault(c.customer_id, [c.external_id, c.customer_name, 0, ZERO, ZERO])
            t[2] += c.events
            t[3] += c.revenue
            t[4] += c.cost
    else:
        if sums is None:
            sums = margin_summary(period=period, meters=meter_infos()).customers
        totals = {cid: [s.external_id, s.name, s.events, s.revenue, s.cost] for cid, s in sums.items()}
    prev = period.previous()
    previous = rollup_customer_measure(start=prev.start, end=prev.end, measure=measure)
    missing = set(previous) - set(totals)
    names = customer_names(customer_ids=missing)
    for customer_id in missing:
        ext, name = names.get(customer_id, ("", ""))
        totals[customer_id] = [ext, name, 0, ZERO, ZERO]
    result = []
    for customer_id, (ext, name, events, revenue, cost) in totals.items():
        current = {"events": Decimal(events), "revenue": revenue, "cost": cost}[measure]
        result.append(
            CustomerTotal(
                customer_id=customer_id,
                external_id=ext,
                name=name,
                events=events,
                revenue=revenue,
                cost=cost,
                previous=Decimal(previous.get(customer_id) or 0),
                current=current,
            )
        )
    return result


def top_customers(totals: list[CustomerTotal], *, limit: int = 10) -> list[CustomerTotal]:
    return sorted([t for t in totals if t.current > 0], key=lambda t: (-t.current, t.name))[:limit]


def top_growers(totals: list[CustomerTotal], *, limit: int = 10) -> list[CustomerTotal]:
    """Largest absolute growth of the measure over the previous range (new customers count from zero)."""
    return sorted([t for t in totals if t.growth > 0], key=lambda t: (-t.growth, t.name))[:limit]
