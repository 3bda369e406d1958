"""Margin: customer x meter cells priced in each contract's unit, and margin per meter."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from apps.contracts.selectors import customer_names, unit_values
from apps.core.money import ZERO
from apps.usage.selectors import CustomerMeterTotal, rollup_customer_meter_totals

from .common import DateRange, MeterInfo, margin_pct

ONE = Decimal(1)


class _Margin:
    """Price margin of charged usage: what the usage was billed at (its price; credits at the contract's credit
    price) against the cost of the part an included allowance did not cover. Free credits count at face value
    here (they are a discount, shown apart on the customer page) and included usage is paid by the base fee, so
    "below cost" means the price itself does not cover the cost."""

    billed: Decimal
    cost: Decimal
    included_cost: Decimal

    @property
    def charged_cost(self) -> Decimal:
        return self.cost - self.included_cost

    @property
    def margin(self) -> Decimal:
        return self.billed - self.charged_cost

    @property
    def margin_pct(self) -> Decimal | None:
        return margin_pct(self.billed, self.charged_cost)

    @property
    def below_cost(self) -> bool:
        return self.billed > 0 and self.billed < self.charged_cost

    @property
    def unpriced(self) -> bool:
        """Charged cost at a zero price (free units, a zero rate or override)."""
        return self.billed == 0 and self.charged_cost > 0


@dataclass(frozen=True)
class MeterMargin(_Margin):
    meter: MeterInfo
    events: int
    quantity: Decimal
    billed: Decimal
    revenue: Decimal
    cost: Decimal
    included_cost: Decimal = ZERO


def margin_by_meter(cells: Iterable[MarginCell], meters: dict[int, MeterInfo]) -> list[MeterMargin]:
    """Every customer together, per meter (from the customer x meter cells: each priced in its own contract)."""
    totals: dict[int, list] = {}
    for c in cells:
        _add_meter(totals, c.meter.id, c.events, c.quantity, c.billed, c.revenue, c.cost, c.included_cost)
    return _meter_margins(totals, meters)


def _add_meter(totals: dict[int, list], meter_id: int, *sums) -> None:
    t = totals.get(meter_id)
    if t is None:
        totals[meter_id] = t = [0, ZERO, ZERO, ZERO, ZERO, ZERO]
    for i, value in enumerate(sums):  # events, quantity, billed, revenue, cost, included cost
        t[i] += value


def _meter_margins(totals: dict[int, list], meters: dict[int, MeterInfo]) -> list[MeterMargin]:
    result = [MeterMargin(meters[m], *t) for m, t in totals.items() if m in meters]
    return sorted(
        result, key=lambda x: (x.margin_pct is None, x.margin_pct if x.margin_pct is not None else 0, x.meter.code)
    )


def _included_cost(row: CustomerMeterTotal) -> Decimal:
    """The included share of a cell's cost: cost x included / quantity over the range (exact while a meter's unit
    cost holds over the range, and a fraction of the cost of judging it row by row)."""
    return (row.cost * row.included_quantity / row.quantity) if row.included_quantity else ZERO


# --- margin matrix -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarginCell(_Margin):
    customer_id: int
    external_id: str
    customer_name: str
    meter: MeterInfo
    events: int
    quantity: Decimal
    amount: Decimal  # in the contract's pricing unit
    revenue: Decimal
    cost: Decimal
    first_day: date
    last_day: date
    included_cost: Decimal = ZERO
    unit_value: Decimal = ONE  # currency per pricing unit (the contract's credit price for credits)

    @property
    def billed(self) -> Decimal:
        return self.amount * self.unit_value


def margin_cells(*, period: DateRange, meters: dict[int, MeterInfo], with_days: bool = True) -> list[MarginCell]:
    """Customer x meter totals over the range (one query on the rollup, plus names and contracts). Without
    `with_days` (the overview) the first and last days with usage are not looked up (they read as the range's
    ends)."""
    rows, names, values = _cell_reads(period, with_days=with_days)
    cells = []
    for r in rows:
        if r.meter_id not in meters:
            continue
        ext, name = names.get(r.customer_id, ("", ""))
        cells.append(
            MarginCell(
                customer_id=r.customer_id,
                external_id=ext,
                customer_name=name,
                meter=meters[r.meter_id],
                events=r.events,
                quantity=r.quantity,
                amount=r.amount,
                revenue=r.revenue,
                cost=r.cost,
                first_day=r.first_day or period.start,
                last_day=r.last_day or period.end,
                included_cost=_included_cost(r),
                unit_value=values.get(r.customer_id, ONE),
            )
        )
    return cells


def _cell_reads(
    period: DateRange, *, with_days: bool
) -> tuple[list[CustomerMeterTotal], dict[int, tuple[str, str]], dict[int, Decimal]]:
    """The customer x meter rollup totals over the range, the customers' names and their contracts' unit values."""
    rows = rollup_customer_meter_totals(start=period.start, end=period.end, with_days=with_days)
    ids = {r.customer_id for r in rows}
    names = customer_names(customer_ids=ids)
    values = unit_values(customer_ids=ids, at=min(timezone.now(), period.end_at - timedelta(microseconds=1)))
    return rows, names, values


@dataclass(frozen=True)
class CustomerSums:
    external_id: str
    name: str
    events: int
    revenue: Decimal
    cost: Decimal


@dataclass(frozen=True)
class MarginSummary:
    meters: list[MeterMargin]  # == margin_by_meter(margin_cells(...))
    customers: dict[int, CustomerSums]  # the customers with cells, in the cells' order


def margin_summary(*, period: DateRange, meters: dict[int, MeterInfo]) -> MarginSummary:
    """What the overview needs from the customer x meter cells: margin per meter and each customer's events,
    revenue and cost over the range. The same reads and the same sums, in the same order, as `margin_cells` then
    `margin_by_meter` and `customer_totals`, in one pass over the rollup totals without building every cell."""
    rows, names, values = _cell_reads(period, with_days=False)
    by_meter: dict[int, list] = {}
    by_customer: dict[int, list] = {}
    for r in rows:
        if r.meter_id not in meters:
            continue
        t = by_meter.get(r.meter_id)
        if t is None:
            by_meter[r.meter_id] = t = [0, ZERO, ZERO, ZERO, ZERO, ZERO]
        t[0] += r.events
        t[1] += r.quantity
        t[2] += r.amount * values.get(r.customer_id, ONE)  # billed: MarginCell.billed
        t[3] += r.revenue
        t[4] += r.cost
        if r.included_quantity:
            t[5] += _included_cost(r)
        t = by_customer.get(r.customer_id)
        if t is None:
            by_customer[r.customer_id] = t = [*names.get(r.customer_id, ("", "")), 0, ZERO, ZERO]
        t[2] += r.events
        t[3] += r.revenue
        t[4] += r.cost
    return MarginSummary(_meter_margins(by_meter, meters), {cid: CustomerSums(*t) for cid, t in by_customer.items()})


MARGIN_SORTS = {
    "margin_pct": lambda c: (c.margin_pct is None, c.margin_pct if c.margin_pct is not None else 0),
    "-margin_pct": lambda c: (c.margin_pct is None, -(c.margin_pct if c.margin_pct is not None else 0)),
    "margin": lambda c: c.margin,
    "-margin": lambda c: -c.margin,
    "billed": lambda c: c.billed,
    "-billed": lambda c: -c.billed,
    "cost": lambda c: c.charged_cost,
    "-cost": lambda c: -c.charged_cost,
    "customer": lambda c: c.customer_name.lower(),
    "-customer": lambda c: tuple(-ord(ch) for ch in c.customer_name.lower()),
    "meter": lambda c: c.meter.code,
    "-meter": lambda c: tuple(-ord(ch) for ch in c.meter.code),
}
DEFAULT_MARGIN_SORT = "margin_pct"


def sort_cells(cells: list[MarginCell], sort: str) -> list[MarginCell]:
    key = MARGIN_SORTS.get(sort) or MARGIN_SORTS[DEFAULT_MARGIN_SORT]
    return sorted(cells, key=lambda c: (key(c), c.customer_name, c.meter.code))
