"""Margin: customer x meter cells priced in each contract's unit, and margin per meter."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from apps.contracts.selectors import customer_names, unit_values
from apps.core.money import ZERO
from apps.usage.selectors import rollup_customer_meter_totals

from .common import DateRange, MeterInfo, margin_pct


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
        t = totals.setdefault(c.meter.id, [0, ZERO, ZERO, ZERO, ZERO, ZERO])
        t[0] += c.events
        t[1] += c.quantity
        t[2] += c.billed
        t[3] += c.revenue
        t[4] += c.cost
        t[5] += c.included_cost
    result = [MeterMargin(meters[m], *t) for m, t in totals.items() if m in meters]
    return sorted(
        result, key=lambda x: (x.margin_pct is None, x.margin_pct if x.margin_pct is not None else 0, x.meter.code)
    )


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
    unit_value: Decimal = Decimal(1)  # currency per pricing unit (the contract's credit price for credits)

    @property
    def billed(self) -> Decimal:
        return self.amount * self.unit_value


def margin_cells(*, period: DateRange, meters: dict[int, MeterInfo], with_days: bool = True) -> list[MarginCell]:
    """Customer x meter totals over the range (one query on the rollup, plus names and contracts). Without
    `with_days` (the overview) the first and last days with usage are not looked up (they read as the range's
    ends)."""
    # The included share of the cost is taken per cell (cost x included / quantity over the range): exact while
    # a meter's unit cost holds over the range, and a fraction of the cost of judging it row by row.
    rows = rollup_customer_meter_totals(start=period.start, end=period.end, with_days=with_days)
    ids = {r.customer_id for r in rows}
    names = customer_names(customer_ids=ids)
    values = unit_values(customer_ids=ids, at=min(timezone.now(), period.end_at - timedelta(microseconds=1)))
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
                included_cost=(r.cost * r.included_quantity / r.quantity) if r.included_quantity else ZERO,
                unit_value=values.get(r.customer_id, Decimal(1)),
            )
        )
    return cells


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
