"""Statements: one line per meter over a date range, the contract's base fees per billing period and the
included credits, rounded once (apps.core.money.round_money); and their CSV for downstream billing."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Sum

from apps.contracts.selectors import contracts_for_customers
from apps.core.csv_export import csv_writer
from apps.core.money import ZERO, decimal_str, quantize_rated, round_money
from apps.wallets.selectors import included_credits_of

from .models import RatedUsage
from .selectors import MeterUsage, usage_by_meter_of

STATEMENT_COLUMNS = [
    "customer",
    "period_start",
    "period_end",
    "meter",
    "unit",
    "quantity",
    "included",
    "from_credits",
    "overage",
    "over_limit",
    "unit_price",
    "amount",
    "pricing_unit",
    "credits",
    "overage_amount",
    "cost",
    "currency",
    "events",
    "not_charged_amount",
]


@dataclass(frozen=True)
class StatementLine:
    usage: MeterUsage
    pricing_unit: str
    amount: Decimal  # charged: the exact sum of the line's events (less what was not charged), rounded once, here
    credits: Decimal
    overage_amount: Decimal
    cost: Decimal
    not_charged: Decimal = ZERO  # usage over a hard limit: rated, flagged, never drawn nor billed (rounded once)
    unit_price: Decimal | None = None  # the list (or override) price per `price_per_units`, as last applied
    price_per_units: Decimal = Decimal(1)
    prices_vary: bool = False  # more than one price applied in the range (tiers, a price change)
    given_back: Decimal = ZERO  # volume true-ups in the amount (negative): earlier units' price lowered

    @property
    def per_unit_price(self) -> Decimal | None:
        if self.unit_price is None:
            return None
        return quantize_rated(self.unit_price / self.price_per_units)


@dataclass(frozen=True)
class FeeLine:
    period_start: date
    period_end: date  # inclusive
    base_fee: Decimal
    currency: str


@dataclass(frozen=True)
class Statement:
    customer_external_id: str
    customer_name: str
    start: date
    end: date
    lines: list[StatementLine] = field(default_factory=list)
    totals: dict = field(default_factory=dict)
    fees: list[FeeLine] = field(default_factory=list)
    included: list = field(default_factory=list)  # apps.wallets.selectors.IncludedCredits per period

    @property
    def filename(self) -> str:
        return f"statement-{self.customer_external_id}-{self.start:%Y%m%d}-{self.end:%Y%m%d}.csv"


def _not_charged(current, customer_ids: list[int]) -> dict[tuple[int, int], Decimal]:
    """Per (customer, meter), the price (in the pricing unit) of the usage rated over a hard limit: the share of
    each flagged record's amount that was neither drawn from credits nor billed as overage."""
    result: dict[tuple[int, int], Decimal] = {}
    rows = current.filter(customer_id__in=customer_ids, over_limit=True).values_list(
        "customer_id", "meter_id", "amount", "quantity", "included_quantity", "over_limit_quantity"
    )
    for customer_id, meter_id, amount, quantity, included, over in rows.iterator(chunk_size=2000):
        chargeable = quantity - included
        if chargeable > 0 and over > 0:
            key = (customer_id, meter_id)
            result[key] = result.get(key, ZERO) + amount * over / chargeable
    return result


def _fees_of(contracts: list, start: date, end: date) -> list[FeeLine]:
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    fees = []
    for terms in contracts:
        if terms.base_fee <= 0:
            continue
        c_lo = max(lo, terms.starts_at)
        c_hi = hi if terms.ends_at is None else min(hi, terms.ends_at)
        at = c_lo
        while at < c_hi:
            p_start, p_end = terms.billing_period(at)
            fees.append(
                FeeLine(
                    p_start.date(),
                    (p_end - timedelta(microseconds=1)).date(),
                    round_money(terms.base_fee),
                    terms.currency,
                )
            )
            at = p_end  # the next period's start (or the contract's end, past the range)
    return sorted(fees, key=lambda f: f.period_start)


def statement(*, customer, start: date, end: date) -> Statement:
    """One line per meter, plus the contract's base fee per billing period and the included credits per period
    (granted, used, lapsed). Rated amounts are exact sums of the events (each event's amount is a difference of
    the period's cumulative price, see rating.price_position) and are rounded once, here, per line (to cents, half
    up: apps.core.money.round_money); quantities are exact. Usage rated over a hard limit is shown as not
    charged and is not in the line's amount."""
    return statements(customers=[customer], start=start, end=end)[customer.pk]


def statements(*, customers, start: date, end: date, contracts: dict[int, list] | None = None) -> dict[int, Statement]:
    """`statement` for many customers at once, in one set of queries whatever their number: customer id ->
    Statement (every customer given has one, maybe empty). `contracts`: the customers' ContractTerms when the
    caller has them (apps.contracts.selectors.contracts_for_customers)."""
    customers = list(customers)
    ids = [c.pk for c in customers]
    usage = usage_by_meter_of(customer_ids=ids, start=start, end=end)
    rated = sorted(usage)  # customers with usage: only they have rated records to read
    current = RatedUsage.objects.filter(superseded_at__isnull=True, day__gte=start, day__lte=end)
    units: dict[tuple[int, int], str] = {}
    prices: dict[tuple[int, int], list] = {}
    varying: set[tuple[int, int]] = set()
    true_ups: dict[tuple[int, int], Decimal] = {}
    not_charged: dict[tuple[int, int], Decimal] = {}
    if rated:
        mine = current.filter(customer_id__in=rated)
        units = {(c, m): u for c, m, u in mine.values_list("customer_id", "meter_id", "pricing_unit").distinct()}
        latest = mine.order_by("customer_id", "meter_id", "-timestamp", "-id").values_list(
            "customer_id", "meter_id", "unit_price", "price_per_units"
        )
        for customer_id, meter_id, unit_price, per in latest.distinct("customer_id", "meter_id") if _pg() else latest:
            prices.setdefault((customer_id, meter_id), [unit_price, per])
        varying = {
            (c, m)
            for c, m, n in mine.values("customer_id", "meter_id")
            .annotate(n=Count("unit_price", distinct=True))
            .values_list("customer_id", "meter_id", "n")
            if n > 1
        }
        over = [c for c in rated if any(m.over_limit_quantity for m in usage[c])]
        not_charged = _not_charged(current, over) if over else {}
        true_ups = {
            (c, m): a
            for c, m, a in mine.filter(amount__lt=0)
            .values("customer_id", "meter_id")
            .annotate(a=Sum("amount"))
            .values_list("customer_id", "meter_id", "a")
        }
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    if contracts is None:
        contracts = contracts_for_customers(customer_ids=ids)
    included = included_credits_of(customer_ids=ids, start=lo, end=hi)
    result = {}
    for customer in customers:
        lines = []
        for m in usage.get(customer.pk, []):
            key = (customer.pk, m.meter_id)
            unit_price, per = prices.get(key, (None, Decimal(1)))
            excluded = not_charged.get(key, ZERO)
            lines.append(
                StatementLine(
                    usage=m,
                    pricing_unit=units.get(key, ""),
                    amount=round_money(m.amount - excluded),
                    credits=round_money(m.credits),
                    overage_amount=round_money(m.overage_amount),
                    cost=round_money(m.cost),
                    not_charged=round_money(excluded),
                    unit_price=unit_price,
                    price_per_units=per,
                    prices_vary=key in varying,
                    given_back=round_money(true_ups.get(key) or ZERO),
                )
            )
        fees = _fees_of(contracts.get(customer.pk, []), start, end)
        totals = {
            "amount": sum((line.amount for line in lines), ZERO),
            "credits": sum((line.credits for line in lines), ZERO),
            "overage_amount": sum((line.overage_amount for line in lines), ZERO),
            "cost": sum((line.cost for line in lines), ZERO),
            "not_charged": sum((line.not_charged for line in lines), ZERO),
            "base_fees": sum((f.base_fee for f in fees), ZERO),
            "events": sum(line.usage.events for line in lines),
        }
        result[customer.pk] = Statement(
            customer.external_id,
            customer.name,
            start,
            end,
            lines,
            totals,
            fees,
            included.get(customer.pk, []),
        )
    return result


def _pg() -> bool:
    return connection.vendor == "postgresql"


def statement_csv(st: Statement, *, include_cost: bool = False) -> str:
    """CSV for downstream billing, one line per meter. `unit_price` is the list (or override) price of one unit
    (as last applied); `amount` is what was charged (usage over a hard limit is in `not_charged_amount`).
    The cost column is there only for callers that may see margin."""
    out = io.StringIO()
    writer = csv_writer(out, lineterminator="\n")
    cost_at = STATEMENT_COLUMNS.index("cost")
    writer.writerow([c for i, c in enumerate(STATEMENT_COLUMNS) if include_cost or i != cost_at])
    for line in st.lines:
        m = line.usage
        writer.writerow(
            [
                st.customer_external_id,
                st.start.isoformat(),
                st.end.isoformat(),
                m.meter,
                m.unit,
                decimal_str(m.quantity),
                decimal_str(m.included_quantity),
                decimal_str(m.credit_quantity),
                decimal_str(m.overage_quantity),
                decimal_str(m.over_limit_quantity),
                decimal_str(line.per_unit_price) if line.per_unit_price is not None else "",
                f"{line.amount:f}",
                line.pricing_unit,
                f"{line.credits:f}",
                f"{line.overage_amount:f}",
                *([f"{line.cost:f}"] if include_cost else []),
                m.currency,
                m.events,
                f"{line.not_charged:f}",
            ]
        )
    return out.getvalue()


def fees_starting_in(*, contracts: list, start: date, end: date) -> list[FeeLine]:
    """The base fees of the billing periods that start in [start, end] (days, inclusive), for one customer's
    contracts (apps.contracts.selectors.ContractTerms). Each billing period's fee is billed once, in the month its
    period starts (whatever the anchor day): what a calendar-month statement (apps.usage.closing) charges, so
    months never bill a period twice."""
    return [f for f in _fees_of(contracts, start, end) if start <= f.period_start <= end]
