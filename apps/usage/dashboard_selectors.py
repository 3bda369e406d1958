"""Reads for the dashboards (overview, customer consumption, margin, account health) and for alert evaluation.

Everything here reads the rollups (usage_daily, usage_daily_attribution), the wallet ledger's daily totals and
the contracts in force, never the raw events: a page costs the same with a thousand events or ten million.
Plain data out (frozen dataclasses, lists); Decimal throughout (charts.py turns numbers into floats).

Higher apps contribute to the customer page's time axis through `register_timeline_source` (alerts registers
its alerts in AlertsConfig.ready), so usage imports none of them.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Case, F, Max, Min, Q, Sum, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.core.money import ZERO, margin_percent, quantize_rated
from apps.core.params import parse_date_value

from .models import DailyAttribution, DailyUsage

RANGE_CHOICES = (7, 30, 90)
DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 366
HUNDRED = Decimal(100)


# --- date ranges -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DateRange:
    """Whole UTC days, both ends inclusive."""

    start: date
    end: date
    preset: int | None = None  # 7, 30, 90, or None for a custom range

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def previous(self) -> DateRange:
        """The range of the same length just before this one (for growth)."""
        return DateRange(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    @property
    def start_at(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        """Exclusive instant: midnight after the last day."""
        d = self.end + timedelta(days=1)
        return datetime(d.year, d.month, d.day, tzinfo=UTC)

    def as_query(self) -> str:
        if self.preset:
            return f"range={self.preset}"
        return f"range=custom&start={self.start.isoformat()}&end={self.end.isoformat()}"

    @property
    def label(self) -> str:
        if self.preset:
            return f"last {self.preset} days"
        return f"{self.start:%b %-d, %Y} – {self.end:%b %-d, %Y}"


def utc_today(now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(UTC).date()


def parse_range(params, *, today: date | None = None) -> tuple[DateRange, str]:
    """A range from query parameters: range=7|30|90, or range=custom&start=YYYY-MM-DD&end=YYYY-MM-DD.
    Returns (range, error message or ""); a bad custom range falls back to the default preset."""
    today = today or utc_today()
    raw = (params.get("range") or "").strip()
    if raw == "custom" or (not raw and (params.get("start") or params.get("end"))):
        try:
            start = parse_date_value(params.get("start") or "", "start")
            end = parse_date_value((params.get("end") or "").strip() or today.isoformat(), "end")
        except ValidationFailed as error:
            return _preset(DEFAULT_RANGE_DAYS, today), (
                "Dates must look like 2026-11-01." if "such as" in error.message else error.message)
        if end < start:
            return _preset(DEFAULT_RANGE_DAYS, today), "The end date is before the start date."
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            return _preset(DEFAULT_RANGE_DAYS, today), f"Pick at most {MAX_RANGE_DAYS} days."
        return DateRange(start, end), ""
    try:
        days = int(raw) if raw else DEFAULT_RANGE_DAYS
    except ValueError:
        days = DEFAULT_RANGE_DAYS
    if days not in RANGE_CHOICES:
        days = DEFAULT_RANGE_DAYS
    return _preset(days, today), ""


def _preset(days: int, today: date) -> DateRange:
    return DateRange(today - timedelta(days=days - 1), today, preset=days)


# --- meters ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MeterInfo:
    id: int
    code: str
    name: str
    unit: str
    product_code: str
    product_name: str
    order: int  # stable position in the whole catalog: the meter's colour on every chart

    @property
    def unit_plural(self) -> str:
        return plural(self.unit)


def plural(unit: str) -> str:
    unit = unit or "unit"
    return unit if unit.endswith("s") else f"{unit}s"


def meter_infos() -> dict[int, MeterInfo]:
    from apps.catalog.models import Meter

    rows = Meter.objects.select_related("product").order_by("product__name", "code")
    return {m.id: MeterInfo(m.id, m.code, m.name, m.unit, m.product.code, m.product.name, i)
            for i, m in enumerate(rows)}


# --- organisation overview ---------------------------------------------------------------------------------

def _included_cost(q: Q | None = None):
    """Cost of the part of each bucket covered by the included allowance (proportional to quantity): what the
    base fee pays for. Margin % is judged on charged usage, so an allowance is not a "below cost" price.
    Buckets are nearly always wholly included or not at all, so only the rare partial one divides."""
    from django.db.models.functions import Coalesce

    from apps.catalog.models import DecimalField

    whole = Q(quantity__gt=0, included_quantity__gte=F("quantity"))
    partial = Q(included_quantity__gt=0, included_quantity__lt=F("quantity"))
    if q is not None:
        whole, partial = whole & q, partial & q
    return (Coalesce(Sum("cost", filter=whole), Value(ZERO), output_field=DecimalField())
            + Coalesce(Sum(F("cost") * F("included_quantity") / F("quantity"), filter=partial, output_field=DecimalField()),
                       Value(ZERO), output_field=DecimalField()))


# Aggregate aliases differ from field names, so F() in _included_cost still means the row's fields.
_AGGREGATES = {"events": lambda: Sum("events"), "quantity": lambda: Sum("quantity"),
               "revenue": lambda: Sum("revenue"), "cost": lambda: Sum("cost"), "included_cost": _included_cost,
               "amount": lambda: Sum("amount"), "credits": lambda: Sum("credits"),
               "overage_amount": lambda: Sum("overage_amount")}


def _totals(*names: str) -> dict:
    """Only the sums a page needs: each numeric SUM over the range's rows costs time."""
    return {f"t_{n}": _AGGREGATES[n]() for n in (names or _AGGREGATES)}


_TOTALS = _totals()


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
    return MeterDay(day=row["day"], meter_id=row["meter_id"], events=int(row.get("t_events") or 0),
                    quantity=row.get("t_quantity") or ZERO, revenue=row.get("t_revenue") or ZERO,
                    cost=row.get("t_cost") or ZERO, amount=row.get("t_amount") or ZERO,
                    credits=row.get("t_credits") or ZERO, overage_amount=row.get("t_overage_amount") or ZERO,
                    included_cost=row.get("t_included_cost") or ZERO)


def org_daily_by_meter(*, period: DateRange, fields: tuple[str, ...] = ()) -> list[MeterDay]:
    """Every customer together: one row per day x meter in the range (one query on the rollup). `fields`: only
    these sums (the others read as zero)."""
    rows = (DailyUsage.objects.filter(day__gte=period.start, day__lte=period.end)
            .values("day", "meter_id").annotate(**_totals(*fields)).order_by("day", "meter_id"))
    return [_meter_day(r) for r in rows]


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


# Gross margin % of revenue; None without revenue (nothing was charged).
margin_pct = margin_percent


def money_by_day(rows: Iterable[MeterDay], period: DateRange) -> list[MoneyDay]:
    """Revenue and cost per day over the whole range (days without usage are zeros, so lines do not jump)."""
    revenue: dict[date, Decimal] = defaultdict(lambda: ZERO)
    cost: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for r in rows:
        revenue[r.day] += r.revenue
        cost[r.day] += r.cost
    return [MoneyDay(d, revenue[d], cost[d]) for d in period.dates()]


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
    return sorted(result, key=lambda x: (x.margin_pct is None, x.margin_pct if x.margin_pct is not None else 0,
                                         x.meter.code))


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


def _measure_sum(measure: str, q: Q) -> Sum:
    return Sum({"events": "events", "cost": "cost", "revenue": "revenue"}[measure], filter=q)


def customer_totals(*, period: DateRange, measure: str = DEFAULT_MEASURE,
                    cells: list[MarginCell] | None = None) -> list[CustomerTotal]:
    """Per customer: totals over the range (from the customer x meter cells, which the overview has anyway) and
    the measure over the previous range of the same length (one query with one sum)."""
    if cells is None:
        cells = margin_cells(period=period, meters=meter_infos(), with_days=False)
    prev = period.previous()
    previous = dict(DailyUsage.objects.filter(day__gte=prev.start, day__lte=prev.end).values("customer_id")
                    .annotate(total=_measure_sum(measure, Q())).order_by().values_list("customer_id", "total"))
    totals: dict[int, list] = {}
    for c in cells:
        t = totals.setdefault(c.customer_id, [c.external_id, c.customer_name, 0, ZERO, ZERO])
        t[2] += c.events
        t[3] += c.revenue
        t[4] += c.cost
    missing = set(previous) - set(totals)
    names = _customer_names(missing)
    for customer_id in missing:
        ext, name = names.get(customer_id, ("", ""))
        totals[customer_id] = [ext, name, 0, ZERO, ZERO]
    result = []
    for customer_id, (ext, name, events, revenue, cost) in totals.items():
        current = {"events": Decimal(events), "revenue": revenue, "cost": cost}[measure]
        result.append(CustomerTotal(customer_id=customer_id, external_id=ext, name=name, events=events,
                                    revenue=revenue, cost=cost, previous=Decimal(previous.get(customer_id) or 0),
                                    current=current))
    return result


def top_customers(totals: list[CustomerTotal], *, limit: int = 10) -> list[CustomerTotal]:
    return sorted([t for t in totals if t.current > 0], key=lambda t: (-t.current, t.name))[:limit]


def top_growers(totals: list[CustomerTotal], *, limit: int = 10) -> list[CustomerTotal]:
    """Largest absolute growth of the measure over the previous range (new customers count from zero)."""
    return sorted([t for t in totals if t.growth > 0], key=lambda t: (-t.growth, t.name))[:limit]


def _customer_names(ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    from apps.contracts.models import Customer

    ids = list(set(ids))
    if not ids:
        return {}
    return {pk: (ext, name) for pk, ext, name in
            Customer.objects.filter(pk__in=ids).values_list("pk", "external_id", "name")}


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


def unit_values(*, customer_ids: Iterable[int], at: datetime) -> dict[int, Decimal]:
    """Currency per pricing unit for each customer: its contract's credit price when the rate table prices in
    credits, else 1 (a currency table). The contract in force at `at`, else the latest one started before it,
    else its first. (One narrow read of the contracts: the overview needs it for every customer.)"""
    from apps.contracts.models import Contract

    ids = list(set(customer_ids))
    if not ids:
        return {}
    rows = (Contract.objects.filter(customer_id__in=ids).order_by("customer_id", "starts_at")
            .values_list("customer_id", "starts_at", "credit_price", "rate_table__pricing_unit"))
    result: dict[int, Decimal] = {}
    for customer_id, starts_at, credit_price, pricing_unit in rows:
        if customer_id in result and starts_at > at:
            continue  # keep the latest contract started by `at` (or the first one)
        result[customer_id] = credit_price if (pricing_unit or "").lower() == "credits" else Decimal(1)
    return result


def margin_cells(*, period: DateRange, meters: dict[int, MeterInfo], with_days: bool = True) -> list[MarginCell]:
    """Customer x meter totals over the range (one query on the rollup, plus names and contracts). Without
    `with_days` (the overview) the first and last days with usage are not looked up (they read as the range's
    ends)."""
    extra = {"first_day": Min("day"), "last_day": Max("day")} if with_days else {}
    # The included share of the cost is taken per cell (cost x included / quantity over the range): exact while
    # a meter's unit cost holds over the range, and a fraction of the cost of judging it row by row.
    rows = list(DailyUsage.objects.filter(day__gte=period.start, day__lte=period.end)
                .values("customer_id", "meter_id")
                .annotate(**_totals("events", "revenue", "cost", "amount", "quantity"),
                          t_included=Sum("included_quantity"), **extra))
    ids = {r["customer_id"] for r in rows}
    names = _customer_names(ids)
    values = unit_values(customer_ids=ids, at=min(timezone.now(), period.end_at - timedelta(microseconds=1)))
    cells = []
    for r in rows:
        if r["meter_id"] not in meters:
            continue
        ext, name = names.get(r["customer_id"], ("", ""))
        cells.append(MarginCell(
            customer_id=r["customer_id"], external_id=ext, customer_name=name, meter=meters[r["meter_id"]],
            events=int(r["t_events"] or 0), quantity=r["t_quantity"] or ZERO, amount=r["t_amount"] or ZERO,
            revenue=r["t_revenue"] or ZERO, cost=r["t_cost"] or ZERO, first_day=r.get("first_day", period.start),
            last_day=r.get("last_day", period.end),
            included_cost=(r["t_cost"] * r["t_included"] / r["t_quantity"]) if r["t_included"] else ZERO,
            unit_value=values.get(r["customer_id"], Decimal(1))))
    return cells


MARGIN_SORTS = {
    "margin_pct": lambda c: (c.margin_pct is None, c.margin_pct if c.margin_pct is not None else 0),
    "-margin_pct": lambda c: (c.margin_pct is None, -(c.margin_pct if c.margin_pct is not None else 0)),
    "margin": lambda c: c.margin, "-margin": lambda c: -c.margin,
    "billed": lambda c: c.billed, "-billed": lambda c: -c.billed,
    "cost": lambda c: c.charged_cost, "-cost": lambda c: -c.charged_cost,
    "customer": lambda c: c.customer_name.lower(),
    "-customer": lambda c: tuple(-ord(ch) for ch in c.customer_name.lower()),
    "meter": lambda c: c.meter.code, "-meter": lambda c: tuple(-ord(ch) for ch in c.meter.code),
}
DEFAULT_MARGIN_SORT = "margin_pct"


def sort_cells(cells: list[MarginCell], sort: str) -> list[MarginCell]:
    key = MARGIN_SORTS.get(sort) or MARGIN_SORTS[DEFAULT_MARGIN_SORT]
    return sorted(cells, key=lambda c: (key(c), c.customer_name, c.meter.code))


# --- one customer --------------------------------------------------------------------------------------------

def customer_daily_by_meter(*, customer_id: int, period: DateRange) -> list[MeterDay]:
    rows = (DailyUsage.objects.filter(customer_id=customer_id, day__gte=period.start, day__lte=period.end)
            .values("day", "meter_id").annotate(**_TOTALS).order_by("day", "meter_id"))
    return [_meter_day(r) for r in rows]


@dataclass(frozen=True)
class Allowance:
    meter: MeterInfo
    allowance: Decimal
    used: Decimal
    thresholds: tuple[int, ...]
    crossed_on: dict = field(default_factory=dict)  # threshold -> first day the cumulative use reached it

    @property
    def pct(self) -> Decimal:
        if not self.allowance:
            return ZERO
        return self.used / self.allowance * HUNDRED

    @property
    def level(self) -> str:
        """ok | warn (first threshold) | high (a later one) | over (100 % or more)."""
        pct = self.pct
        if pct >= HUNDRED:
            return "over"
        crossed = [t for t in self.thresholds if pct >= t]
        if not crossed:
            return "ok"
        return "high" if len(crossed) > 1 else "warn"


@dataclass(frozen=True)
class IncludedUsage:
    period_start: datetime | None
    period_end: datetime | None
    billing_model: str
    rows: list[Allowance]
    has_contract: bool


def period_meter_days(*, customer_id: int, period_start: date, until: date) -> list[MeterDay]:
    """The customer's rollup rows from the start of a billing period up to a day (inclusive)."""
    return customer_daily_by_meter(customer_id=customer_id, period=DateRange(period_start, until))


def included_usage(*, customer_id: int, now: datetime | None = None,
                   meters: dict[int, MeterInfo] | None = None, terms=...) -> IncludedUsage:
    """Per meter with an included allowance: use in the current billing period against it (with the days each
    of the contract's alert thresholds was reached)."""
    from apps.contracts.selectors import contract_in_force

    now = now or timezone.now()
    if terms is ...:  # the caller may pass the contract in force it already has
        terms = contract_in_force(customer_id=customer_id, at=now)
    if terms is None:
        return IncludedUsage(None, None, "", [], has_contract=False)
    start, end = terms.period(now)
    start = max(start, terms.starts_at)
    if not terms.allowances:
        return IncludedUsage(start, end, terms.billing_model, [], has_contract=True)
    meters = meters or meter_infos()
    days = period_meter_days(customer_id=customer_id, period_start=start.astimezone(UTC).date(), until=utc_today(now))
    return IncludedUsage(start, end, terms.billing_model,
                         allowance_rows(terms.allowances, terms.alert_thresholds, days, meters), has_contract=True)


def allowance_rows(allowances: dict[int, Decimal], thresholds: Iterable[int], days: list[MeterDay],
                   meters: dict[int, MeterInfo]) -> list[Allowance]:
    thresholds = tuple(sorted({int(t) for t in thresholds}))
    by_meter: dict[int, list[MeterDay]] = defaultdict(list)
    for d in days:
        by_meter[d.meter_id].append(d)
    rows = []
    for meter_id, allowance in allowances.items():
        if meter_id not in meters or allowance <= 0:
            continue
        cumulative = ZERO
        crossed: dict[int, date] = {}
        for d in sorted(by_meter.get(meter_id, []), key=lambda x: x.day):
            cumulative += d.quantity
            for t in thresholds:
                if t not in crossed and cumulative * HUNDRED >= allowance * t:
                    crossed[t] = d.day
        rows.append(Allowance(meters[meter_id], allowance, cumulative, thresholds, crossed))
    return sorted(rows, key=lambda a: (-a.pct, a.meter.code))


def customer_runway(*, customer_id: int, now: datetime):
    """The wallet's runway (wallets.selectors.wallet_runway; projections beyond its horizon have no date)."""
    from apps.wallets.selectors import wallet_runway

    return wallet_runway(customer_id=customer_id, now=now)


@dataclass(frozen=True)
class BalancePoint:
    day: date
    balance: Decimal  # at the end of the day


@dataclass(frozen=True)
class BurnDown:
    has_wallet: bool
    points: list[BalancePoint]
    balance: Decimal
    burn_per_day: Decimal
    runs_out_at: datetime | None
    days_left: Decimal | None
    basis_days: int
    now: datetime


def balance_history(*, customer_id: int, period: DateRange, now: datetime | None = None) -> BurnDown:
    """Balance at the end of each day of the range (from the ledger's daily net movements: two queries) and the
    wallet's runway (trailing burn, grant expiries) for the forecast."""
    from apps.wallets.models import LedgerEntry, Wallet

    now = now or timezone.now()
    wallet = Wallet.objects.filter(customer_id=customer_id).only("id", "balance").first()
    if wallet is None:
        return BurnDown(False, [], ZERO, ZERO, None, None, 14, now)
    entries = LedgerEntry.objects.filter(wallet_id=wallet.pk)
    before = entries.filter(effective_at__lt=period.start_at).aggregate(total=Sum("amount"))["total"] or ZERO
    daily = _sum_by_day(entries.filter(effective_at__gte=period.start_at, effective_at__lt=period.end_at),
                        "effective_at", "amount")
    today = utc_today(now)
    points = []
    balance = before
    for d in period.dates():
        if d > today:
            break
        balance += daily.get(d, ZERO)
        points.append(BalancePoint(d, balance))
    runway = customer_runway(customer_id=customer_id, now=now)
    return BurnDown(True, points, wallet.balance, runway.burn_per_day, runway.runs_out_at, runway.days_left,
                    runway.basis_days, now)


def _sum_by_day(qs, ts_field: str, value_field: str) -> dict[date, Decimal]:
    """Sum a value per UTC day of a timestamp."""
    rows = qs.annotate(d=TruncDate(ts_field, tzinfo=UTC)).values("d").annotate(total=Sum(value_field))
    return {r["d"]: r["total"] or ZERO for r in rows}


@dataclass(frozen=True)
class CreditsDay:
    day: date
    paid_credits: Decimal
    free_credits: Decimal
    paid_revenue: Decimal  # what the paid credits drawn were paid for (free credits carry none)


def credits_paid_free(*, customer_id: int, period: DateRange) -> list[CreditsDay]:
    """Credits drawn per day from paid grants and from free ones (promotional, support, zero-priced), net of
    reversals, from the ledger's allocations (one query)."""
    from apps.catalog.models import DecimalField as D
    from apps.wallets.models import LedgerAllocation, LedgerEntry

    free = Q(grant__price_per_credit=0)
    rows = (LedgerAllocation.objects
            .filter(entry__wallet__customer_id=customer_id,
                    entry__entry_type__in=[LedgerEntry.EntryType.DEBIT, LedgerEntry.EntryType.REVERSAL],
                    entry__effective_at__gte=period.start_at, entry__effective_at__lt=period.end_at)
            .annotate(d=TruncDate("entry__effective_at", tzinfo=UTC))
            .values("d")
            .annotate(free=Sum(Case(When(free, then="amount"), default=0, output_field=D())),
                      paid=Sum(Case(When(~free, then="amount"), default=0, output_field=D())),
                      revenue=Sum("revenue"))
            .order_by("d"))
    # allocations are signed like their entries (debits take: negative amounts) but carry revenue positive for
    # a debit and negative for a reversal
    result = {r["d"]: CreditsDay(r["d"], -(r["paid"] or ZERO), -(r["free"] or ZERO), r["revenue"] or ZERO)
              for r in rows}
    return [result.get(d, CreditsDay(d, ZERO, ZERO, ZERO)) for d in period.dates()]


@dataclass(frozen=True)
class AttributionRow:
    kind: str
    value: str
    events: int
    amount: Decimal
    credits: Decimal
    revenue: Decimal
    cost: Decimal


def attribution_top(*, customer_id: int, period: DateRange, limit: int = 10) -> dict[str, list[AttributionRow]]:
    """Top users, agents and teams by amount (then events) over the range (one query)."""
    rows = (DailyAttribution.objects.filter(customer_id=customer_id, day__gte=period.start, day__lte=period.end)
            .values("kind", "value")
            .annotate(events=Sum("events"), amount=Sum("amount"), credits=Sum("credits"), revenue=Sum("revenue"),
                      cost=Sum("cost")))
    result: dict[str, list[AttributionRow]] = {k: [] for k in ("user", "agent", "team")}
    for r in rows:
        result.setdefault(r["kind"], []).append(AttributionRow(
            r["kind"], r["value"], int(r["events"] or 0), r["amount"] or ZERO, r["credits"] or ZERO,
            r["revenue"] or ZERO, r["cost"] or ZERO))
    for kind, items in result.items():
        items.sort(key=lambda a: (-a.amount, -a.events, a.value))
        result[kind] = items[:limit]
    return result


# --- time-axis markers contributed by higher apps (alerts) --------------------------------------------------

@dataclass(frozen=True)
class TimelineMarker:
    at: datetime
    day: date
    label: str
    category: str  # e.g. the alert kind's label: one row per category on the timeline
    state: str  # open | acknowledged | resolved
    url: str = ""
    carries_margin: bool = False  # e.g. a margin alert: left out for those who may not see margin


TimelineSource = Callable[..., list[TimelineMarker]]  # (customer_id=, start=, end=) -> markers
_TIMELINE_SOURCES: list[TimelineSource] = []


def register_timeline_source(source: TimelineSource) -> None:
    if source not in _TIMELINE_SOURCES:
        _TIMELINE_SOURCES.append(source)


def timeline_markers(*, customer_id: int, period: DateRange) -> list[TimelineMarker]:
    markers: list[TimelineMarker] = []
    for source in _TIMELINE_SOURCES:
        markers.extend(source(customer_id=customer_id, start=period.start, end=period.end))
    return sorted(markers, key=lambda m: m.at)


# --- account health (many customers, bounded queries) ---------------------------------------------------------

@dataclass(frozen=True)
class AccountHealth:
    customer_id: int
    external_id: str
    name: str
    billing_model: str
    top_allowance: Allowance | None  # the meter closest to (or furthest over) its allowance
    allowances: list[Allowance]
    balance: Decimal | None
    runway_days: Decimal | None
    runs_out_on: date | None
    burn_per_day: Decimal

    @property
    def has_wallet(self) -> bool:
        return self.balance is not None


@dataclass(frozen=True)
class Runway:
    balance: Decimal
    burn_per_day: Decimal
    runs_out_at: datetime | None
    days_left: Decimal | None


def runways(*, customer_ids: Iterable[int], now: datetime | None = None) -> dict[int, Runway]:
    """wallets.selectors.wallet_runway for many customers in three queries (same burn basis and projection)."""
    from apps.wallets.models import CreditGrant, LedgerEntry, Wallet
    from apps.wallets.selectors import RUNWAY_BASIS_DAYS, RunwayGrant, project_runway

    now = now or timezone.now()
    ids = list(set(customer_ids))
    wallets = {w.pk: w for w in Wallet.objects.filter(customer_id__in=ids).only("id", "customer_id", "balance")}
    if not wallets:
        return {}
    since = now - timedelta(days=RUNWAY_BASIS_DAYS)
    moves = LedgerEntry.objects.filter(wallet_id__in=list(wallets), effective_at__gt=since, effective_at__lte=now,
                                       entry_type__in=[LedgerEntry.EntryType.DEBIT, LedgerEntry.EntryType.REVERSAL])
    if connection.vendor == "sqlite":  # SQLite sums decimals in floating point: add them exactly here
        burnt: dict[int, Decimal] = defaultdict(lambda: ZERO)
        for wallet_id, amount in moves.values_list("wallet_id", "amount"):
            burnt[wallet_id] += amount
    else:
        burnt = dict(moves.values("wallet_id").annotate(total=Sum("amount")).order_by()
                     .values_list("wallet_id", "total"))
    grants: dict[int, list[RunwayGrant]] = defaultdict(list)
    for g in CreditGrant.objects.filter(wallet_id__in=list(wallets), remaining__gt=0, expired_at__isnull=True,
                                        voided_at__isnull=True):
        grants[g.wallet_id].append(RunwayGrant(remaining=g.remaining, priority=g.priority, effective_at=g.effective_at,
                                               expires_at=g.expires_at, price_per_credit=g.price_per_credit,
                                               created_at=g.created_at, id=g.pk))
    result = {}
    for wallet_id, wallet in wallets.items():
        burn = quantize_rated(max(-(burnt.get(wallet_id) or ZERO), ZERO) / Decimal(RUNWAY_BASIS_DAYS))
        at, _lost = project_runway(grants=grants.get(wallet_id, []), burn_per_day=burn, now=now)
        days = None
        if at is not None:
            days = (Decimal((at - now).total_seconds()) / Decimal(86400)).quantize(Decimal("0.1"))
        result[wallet.customer_id] = Runway(wallet.balance, burn, at, days)
    return result


def accounts_health(*, customers: list, now: datetime | None = None,
                    meters: dict[int, MeterInfo] | None = None) -> list[AccountHealth]:
    """Included-usage progress, balance and runway of many customers (a fixed number of queries).
    `customers` are objects with pk, external_id and name."""
    from apps.contracts.selectors import contracts_in_force

    now = now or timezone.now()
    ids = [c.pk for c in customers]
    if not ids:
        return []
    meters = meters or meter_infos()
    terms = contracts_in_force(customer_ids=ids, at=now)
    today = utc_today(now)
    starts = {}
    for cid, t in terms.items():
        if t.allowances:
            start, _end = t.period(now)
            starts[cid] = max(start, t.starts_at).astimezone(UTC).date()
    days: dict[int, list[MeterDay]] = defaultdict(list)
    if starts:
        q = Q()
        for cid, start in starts.items():
            q |= Q(customer_id=cid, day__gte=start)
        for r in (DailyUsage.objects.filter(q, day__lte=today).values("customer_id", "day", "meter_id")
                  .annotate(**_TOTALS)):
            days[r["customer_id"]].append(_meter_day(r))
    wallet_runways = runways(customer_ids=ids, now=now)
    result = []
    for c in customers:
        t = terms.get(c.pk)
        rows = allowance_rows(t.allowances, t.alert_thresholds, days.get(c.pk, []), meters) if t and t.allowances else []
        runway = wallet_runways.get(c.pk)
        result.append(AccountHealth(
            customer_id=c.pk, external_id=c.external_id, name=c.name, billing_model=t.billing_model if t else "",
            top_allowance=rows[0] if rows else None, allowances=rows,
            balance=runway.balance if runway else None, runway_days=runway.days_left if runway else None,
            runs_out_on=runway.runs_out_at.date() if runway and runway.runs_out_at else None,
            burn_per_day=runway.burn_per_day if runway else ZERO))
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
    return customer_daily_by_meter(customer_id=customer_id, period=DateRange(start, end))


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

