"""Simulation reads: rated figures of a range, the latest simulation of a version, its report, JSON and CSV."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Sum

from apps.catalog.selectors import meters_by_ids, version_pricing_hash
from apps.contracts.selectors import customer_names
from apps.core.money import ZERO, decimal_str, percent_change

from ..models import DailyUsage, RatedUsage
from .models import FIGURES, Simulation, SimulationLine

# The figure -> the rated record's column it sums (credits: what the wallet paid).
COLUMNS = {
    "quantity": "quantity",
    "amount": "amount",
    "credits": "credits_drawn",
    "overage_amount": "overage_amount",
    "revenue": "revenue",
    "cost": "cost",
}
JSON_FIGURES = ("amount", "credits", "overage_amount", "cost")


@dataclass(frozen=True)
class Sums:
    events: int
    figures: dict[str, Decimal]

    def __getitem__(self, name: str) -> Decimal:
        return self.figures[name]


def range_sums(*, customer_ids: Sequence[int], start: datetime, end: datetime) -> dict[int, dict[int, Sums]]:
    """Per customer, per meter: the customers' current rated records with timestamps in [start, end), summed."""
    rows = (
        RatedUsage.objects.filter(
            customer_id__in=list(customer_ids),
            superseded_at__isnull=True,
            day__gte=start.date(),
            day__lte=end.date(),
            timestamp__gte=start,
            timestamp__lt=end,
        )
        .values("customer_id", "meter_id")
        .order_by("customer_id", "meter_id")
        .annotate(events=Count("id"), **{name: Sum(column) for name, column in COLUMNS.items()})
    )
    sums: dict[int, dict[int, Sums]] = {c: {} for c in customer_ids}
    for r in rows:
        sums[r["customer_id"]][r["meter_id"]] = Sums(
            r["events"], {name: r[name] if r[name] is not None else ZERO for name in COLUMNS}
        )
    return sums


def range_events(*, customer_ids: Sequence[int], start: datetime, end: datetime) -> dict[int, int]:
    """Per customer, about how many events a range holds (from the daily rollups of the days it touches): enough
    to cut a simulation into parts of a similar size."""
    rows = (
        DailyUsage.objects.filter(customer_id__in=list(customer_ids), day__gte=start.date(), day__lte=end.date())
        .values("customer_id")
        .order_by("customer_id")
        .annotate(events=Sum("events"))
    )
    return {r["customer_id"]: r["events"] or 0 for r in rows}


def _zero() -> dict[str, Decimal]:
    return dict.fromkeys(FIGURES, ZERO)


@dataclass
class Side:
    """Figures now and simulated, their difference and % change (of the amount: what the customer is billed)."""

    now: dict[str, Decimal] = field(default_factory=_zero)
    simulated: dict[str, Decimal] = field(default_factory=_zero)

    def add(self, line: SimulationLine) -> None:
        for name in FIGURES:
            self.now[name] += getattr(line, f"{name}_now")
            self.simulated[name] += getattr(line, f"{name}_simulated")

    @property
    def difference(self) -> dict[str, Decimal]:
        return {name: self.simulated[name] - self.now[name] for name in FIGURES}

    @property
    def amount_change(self) -> Decimal:
        return self.simulated["amount"] - self.now["amount"]

    @property
    def amount_pct(self) -> Decimal | None:
        return percent_change(self.now["amount"], self.simulated["amount"])

    @property
    def margin_now(self) -> Decimal:
        return self.now["revenue"] - self.now["cost"]

    @property
    def margin_simulated(self) -> Decimal:
        return self.simulated["revenue"] - self.simulated["cost"]


@dataclass
class CustomerImpact(Side):
    customer_id: int = 0
    external_id: str = ""
    name: str = ""
    shock: bool = False


@dataclass
class MeterImpact(Side):
    meter_id: int = 0
    code: str = ""
    customers: int = 0


@dataclass
class SimulationReport:
    simulation: Simulation
    fresh: bool
    first_day: object
    last_day: object
    customers: list[CustomerImpact]  # bill shock first, then by bill change (largest rise first)
    meters: list[MeterImpact]
    lines: list[tuple[CustomerImpact, MeterImpact, SimulationLine]]
    total: Side

    @property
    def shocked(self) -> list[CustomerImpact]:
        return [c for c in self.customers if c.shock]

    @property
    def stale(self) -> bool:
        return not self.fresh

    @property
    def with_credits(self) -> bool:
        """Whether credits were drawn, now or simulated: without any, overage is the whole bill (postpaid) and the
        credits and overage columns would only repeat zeros and the billed amount."""
        t = self.total
        return bool(t.now["credits"] or t.simulated["credits"] or t.now["overage_amount"] != t.now["amount"])


def is_shock(now: Decimal, simulated: Decimal, threshold: Decimal) -> bool:
    """A bill moving by more than `threshold` % either way (from nothing to something always counts)."""
    if now == simulated:
        return False
    if now == 0:
        return True
    return abs((simulated - now) / now * Decimal(100)) > threshold


def simulation_get(*, simulation_id: int) -> Simulation | None:
    return (
        Simulation.objects.select_related("version", "version__rate_table", "requested_by")
        .filter(pk=simulation_id)
        .first()
    )


def simulation_latest(*, version_id: int) -> Simulation | None:
    return (
        Simulation.objects.select_related("version", "version__rate_table", "requested_by")
        .filter(version_id=version_id)
        .order_by("-created_at", "-id")
        .first()
    )


def simulation_is_fresh(simulation: Simulation, *, pricing_hash: str | None = None) -> bool:
    """Done, and run on the version's prices and cohort as they are now (stale once any rate, tier or the cohort
    changed since)."""
    if simulation.state != Simulation.State.DONE:
        return False
    return simulation.content_hash == (pricing_hash or version_pricing_hash(version_id=simulation.version_id))


def version_has_fresh_simulation(*, version_id: int) -> bool:
    pricing_hash = version_pricing_hash(version_id=version_id)
    return Simulation.objects.filter(
        version_id=version_id, state=Simulation.State.DONE, content_hash=pricing_hash
    ).exists()


def simulation_report(simulation: Simulation) -> SimulationReport:
    lines = list(simulation.lines.order_by("customer_id", "meter_id"))
    names = customer_names(customer_ids={line.customer_id for line in lines})
    meter_specs = meters_by_ids({line.meter_id for line in lines})
    customers: dict[int, CustomerImpact] = {}
    meters: dict[int, MeterImpact] = {}
    total = Side()
    joined = []
    for line in lines:
        external_id, name = names.get(line.customer_id, (str(line.customer_id), ""))
        customer = customers.setdefault(
            line.customer_id, CustomerImpact(customer_id=line.customer_id, external_id=external_id, name=name)
        )
        spec = meter_specs.get(line.meter_id)
        meter = meters.setdefault(
            line.meter_id, MeterImpact(meter_id=line.meter_id, code=spec.code if spec else str(line.meter_id))
        )
        customer.add(line)
        meter.add(line)
        meter.customers += 1
        total.add(line)
        joined.append((customer, meter, line))
    for customer in customers.values():
        customer.shock = is_shock(customer.now["amount"], customer.simulated["amount"], simulation.shock_threshold)
    ordered = sorted(customers.values(), key=lambda c: (not c.shock, -c.amount_change, c.external_id))
    last = simulation.range_end - timedelta(microseconds=1)
    return SimulationReport(
        simulation=simulation,
        fresh=simulation_is_fresh(simulation),
        first_day=simulation.range_start.date(),
        last_day=last.date(),
        customers=ordered,
        meters=sorted(meters.values(), key=lambda m: m.code),
        lines=sorted(joined, key=lambda j: (j[0].external_id, j[1].code)),
        total=total,
    )


def _figures(values: dict[str, Decimal]) -> dict[str, str | None]:
    return {name: decimal_str(values[name]) for name in JSON_FIGURES}


def simulation_json(report: SimulationReport) -> dict:
    """The CLI's --json object (decimals as strings; amounts in the table's pricing unit)."""
    simulation = report.simulation
    return {
        "version": simulation.version_id,
        "content_hash": simulation.content_hash,
        "start": report.first_day.isoformat(),
        "end": report.last_day.isoformat(),
        "customers": [
            {"customer": c.external_id, "current": _figures(c.now), "simulated": _figures(c.simulated)}
            for c in sorted(report.customers, key=lambda c: c.external_id)
        ],
        "totals": {"current": _figures(report.total.now), "simulated": _figures(report.total.simulated)},
    }


def simulation_csv_rows(report: SimulationReport, *, with_margin: bool) -> list[list]:
    """Per customer x meter, now and simulated (cost and margin only for roles that may see margin)."""
    names = ["quantity", "amount", "credits", "overage_amount"] + (["revenue", "cost"] if with_margin else [])
    header = ["customer", "meter", "events"]
    for name in names:
        header += [f"{name}_now", f"{name}_simulated", f"{name}_difference"]
    if with_margin:
        header += ["margin_now", "margin_simulated"]
    header += ["amount_change_pct", "customer_bill_shock"]
    rows: list[list] = [header]
    for customer, meter, line in report.lines:
        row: list = [customer.external_id, meter.code, line.events]
        for name in names:
            now, sim = getattr(line, f"{name}_now"), getattr(line, f"{name}_simulated")
            row += [decimal_str(now), decimal_str(sim), decimal_str(sim - now)]
        if with_margin:
            row += [
                decimal_str(line.revenue_now - line.cost_now),
                decimal_str(line.revenue_simulated - line.cost_simulated),
            ]
        pct = percent_change(line.amount_now, line.amount_simulated)
        row += [decimal_str(pct.quantize(Decimal("0.01"))) if pct is not None else "", "yes" if customer.shock else ""]
        rows.append(row)
    return rows
