"""Usage reads. Plain data out; pages and APIs read rollups and rating cursors, never scan raw events."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Sum
from django.utils import timezone

from apps.core.errors import NotFound, ValidationFailed
from apps.core.money import ZERO, decimal_str, quantize_rated, round_money

from .rating import pricing as rating
from .explain import bucket_explanation, charge_explanation  # noqa: F401 - read through selectors
from .models import DailyAttribution, DailyUsage, RatedUsage, RatingBatch, RatingCursor, UsageEvent

MAX_RANGE_DAYS = 400


def parse_day(value: str | None, *, field: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{field} must be a date, YYYY-MM-DD.", field=field) from None


# --- customers and meters (through their apps' selectors) -------------------------------------------------

def customer_or_404(external_id: str):
    from apps.contracts.selectors import customer_get

    customer = customer_get(external_id=external_id)
    if customer is None:
        raise NotFound(f"No customer with external id {external_id!r}.", code="unknown_customer")
    return customer


def meter_by_code(code: str):
    from apps.catalog.selectors import meters_by_code

    return meters_by_code().get(code)


def meters_by_id() -> dict:
    from apps.catalog.selectors import meters_by_code

    return {m.id: m for m in meters_by_code().values()}


def current_period(*, customer_id: int, at: datetime | None = None) -> tuple[date, date] | None:
    """The billing period in force at `at` as (first day, last day inclusive), or None without a contract."""
    from apps.contracts.selectors import contract_in_force

    at = at or timezone.now()
    terms = contract_in_force(customer_id=customer_id, at=at)
    if terms is None:
        return None
    start, end = terms.billing_period(at)
    return start.date(), (end - timedelta(microseconds=1)).date()


def resolve_range(*, customer_id: int, start: str | None, end: str | None) -> tuple[date, date]:
    """Parse ?start=&end= (end inclusive); default: the current billing period, else the last 30 days."""
    first, last = parse_day(start, field="start"), parse_day(end, field="end")
    if first is None or last is None:
        period = current_period(customer_id=customer_id)
        today = timezone.now().date()
        default = period or (today - timedelta(days=29), today)
        first, last = first or default[0], last or default[1]
    if last < first:
        raise ValidationFailed("end must not be before start.", field="end")
    if (last - first).days > MAX_RANGE_DAYS:
        raise ValidationFailed(f"A range is at most {MAX_RANGE_DAYS} days.", field="end")
    return first, last


# --- usage per meter --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MeterUsage:
    meter_id: int
    meter: str
    name: str
    unit: str
    events: int
    quantity: Decimal
    included_quantity: Decimal
    credit_quantity: Decimal
    overage_quantity: Decimal
    over_limit_quantity: Decimal
    credits: Decimal
    amount: Decimal
    overage_amount: Decimal
    revenue: Decimal
    cost: Decimal
    currency: str

    @property
    def chargeable_quantity(self) -> Decimal:
        return self.quantity - self.included_quantity

    @property
    def average_unit_price(self) -> Decimal | None:
        chargeable = self.chargeable_quantity
        return quantize_rated(self.amount / chargeable) if chargeable else None


_SUMS = ("events", "quantity", "included_quantity", "credit_quantity", "overage_quantity", "over_limit_quantity",
         "credits", "amount", "overage_amount", "revenue", "cost")


def usage_by_meter(*, customer_id: int, start: date, end: date, meter_id: int | None = None) -> list[MeterUsage]:
    """Per meter totals over [start, end] (days, inclusive), from the daily rollups."""
    qs = DailyUsage.objects.filter(customer_id=customer_id, day__gte=start, day__lte=end)
    if meter_id is not None:
        qs = qs.filter(meter_id=meter_id)
    rows = qs.values("meter_id").annotate(**{f"s_{n}": Sum(n) for n in _SUMS}).order_by("meter_id")
    currencies = dict(qs.values_list("meter_id", "currency").distinct())
    meters = meters_by_id()
    result = []
    for row in rows:
        meter = meters.get(row["meter_id"])
        result.append(MeterUsage(
            meter_id=row["meter_id"], meter=meter.code if meter else str(row["meter_id"]),
            name=meter.name if meter else "", unit=meter.unit if meter else "",
            currency=currencies.get(row["meter_id"], ""),
            **{n: row[f"s_{n}"] if row[f"s_{n}"] is not None else (0 if n == "events" else ZERO) for n in _SUMS}))
    result.sort(key=lambda m: m.meter)
    return result


def usage_api_payload(*, customer, start: date, end: date, meter_id: int | None = None,
                      include_cost: bool = False) -> dict:
    """Usage per meter for the API; `cost` only for callers that may see margin (core.permissions)."""
    meters = []
    for m in usage_by_meter(customer_id=customer.pk, start=start, end=end, meter_id=meter_id):
        row = {"meter": m.meter, "quantity": decimal_str(m.quantity), "credits": decimal_str(m.credits),
               "amount": decimal_str(m.amount)}
        if include_cost:
            row["cost"] = decimal_str(m.cost)
        meters.append(row)
    return {"customer": customer.external_id, "start": start.isoformat(), "end": end.isoformat(), "meters": meters}


@dataclass(frozen=True)
class DayPoint:
    day: date
    quantity: Decimal
    credits: Decimal
    amount: Decimal
    revenue: Decimal
    cost: Decimal
    events: int


def daily_series(*, customer_id: int, start: date, end: date, meter_id: int | None = None) -> list[DayPoint]:
    """One point per day with usage (for charts), from the rollups."""
    qs = DailyUsage.objects.filter(customer_id=customer_id, day__gte=start, day__lte=end)
    if meter_id is not None:
        qs = qs.filter(meter_id=meter_id)
    rows = (qs.values("day").annotate(quantity=Sum("quantity"), credits=Sum("credits"), amount=Sum("amount"),
                                      revenue=Sum("revenue"), cost=Sum("cost"), events=Sum("events"))
            .order_by("day"))
    return [DayPoint(**row) for row in rows]


@dataclass(frozen=True)
class AttributionRow:
    kind: str
    value: str
    events: int
    credits: Decimal
    amount: Decimal
    revenue: Decimal
    cost: Decimal


def top_attribution(*, customer_id: int, start: date, end: date, kind: str, limit: int = 10) -> list[AttributionRow]:
    """Who (user, agent, team) drove the usage, by amount, from the attribution rollups."""
    rows = (DailyAttribution.objects.filter(customer_id=customer_id, day__gte=start, day__lte=end, kind=kind)
            .values("value").annotate(events=Sum("events"), credits=Sum("credits"), amount=Sum("amount"),
                                      revenue=Sum("revenue"), cost=Sum("cost"))
            .order_by("-amount", "value")[:limit])
    return [AttributionRow(kind=kind, **row) for row in rows]


# --- entitlements -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entitlement:
    allowed: bool
    reason: str
    policy: str | None
    balance: Decimal | None
    included_remaining: Decimal | None
    billing_model: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    used_quantity: Decimal = ZERO
    overage_used: Decimal = ZERO
    overage_cap: Decimal | None = None

    def as_api(self) -> dict:
        return {"allowed": self.allowed, "reason": self.reason, "policy": self.policy,
                "balance": decimal_str(self.balance), "included_remaining": decimal_str(self.included_remaining)}


def entitlement(*, customer_id: int, meter_id: int, at: datetime | None = None) -> Entitlement:
    """May the customer use the meter now? From the contract, the rating cursors of the current period and the
    wallet balance: a handful of indexed reads, whatever the number of events.

    Reasons: no_contract, not_in_rate_table, included_remaining, unlimited, balance_available, within_overdraft,
    overage_allowed, postpaid, within_spend_limit; refusals: balance_exhausted, overdraft_limit_reached,
    spend_limit_reached."""
    from apps.catalog.selectors import rate_table_version_in_force
    from apps.contracts.selectors import contract_in_force
    from apps.wallets.selectors import wallet_balance

    at = at or timezone.now()
    terms = contract_in_force(customer_id=customer_id, at=at)
    if terms is None:
        return Entitlement(False, "no_contract", None, None, None)
    start, end = terms.billing_period(at)
    cursors = list(RatingCursor.objects.filter(customer_id=customer_id, period_start=start)
                   .values_list("meter_id", "quantity", "overage_units"))
    used = sum((q for m, q, _ in cursors if m == meter_id), ZERO)
    overage_used = sum((o for _, _, o in cursors), ZERO)
    allowance = terms.allowances.get(meter_id)
    included_remaining = max(allowance - used, ZERO) if allowance is not None else ZERO
    wallet_backed = terms.wallet_backed
    balance = wallet_balance(customer_id=customer_id, now=at).available_now if wallet_backed else None
    cap = rating.overage_cap(wallet_backed=wallet_backed, enforcement=terms.enforcement,
                             overdraft_limit=terms.overdraft_limit)
    common = dict(policy=terms.enforcement, balance=balance, included_remaining=included_remaining,
                  billing_model=terms.billing_model, period_start=start, period_end=end, used_quantity=used,
                  overage_used=overage_used, overage_cap=cap)

    version = rate_table_version_in_force(rate_table_id=terms.rate_table_id, at=at)
    if version is None or meter_id not in version.rates:
        return Entitlement(False, "not_in_rate_table", **common)
    if included_remaining > 0:
        return Entitlement(True, "included_remaining", **common)
    if terms.enforcement == "unlimited":
        return Entitlement(True, "unlimited", **common)
    if wallet_backed:
        if balance > 0:
            return Entitlement(True, "balance_available", **common)
        if cap is None:
            return Entitlement(True, "overage_allowed", **common)
        if overage_used < cap:
            return Entitlement(True, "within_overdraft", **common)
        return Entitlement(False, "balance_exhausted" if terms.enforcement == "hard" else "overdraft_limit_reached",
                           **common)
    if cap is None:
        return Entitlement(True, "postpaid", **common)
    if overage_used < cap:
        return Entitlement(True, "within_spend_limit", **common)
    return Entitlement(False, "spend_limit_reached", **common)


# --- statements -------------------------------------------------------------------------------------------

STATEMENT_COLUMNS = ["customer", "period_start", "period_end", "meter", "unit", "quantity", "included",
                     "from_credits", "overage", "over_limit", "unit_price", "amount", "pricing_unit", "credits",
                     "overage_amount", "cost", "currency", "events", "not_charged_amount"]


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


def _not_charged(customer_id: int, start: date, end: date) -> dict[int, Decimal]:
    """Per meter, the price (in the pricing unit) of the usage rated over a hard limit: the share of each flagged
    record's amount that was neither drawn from credits nor billed as overage."""
    result: dict[int, Decimal] = {}
    rows = (RatedUsage.objects.filter(customer_id=customer_id, superseded_at__isnull=True, day__gte=start,
                                      day__lte=end, over_limit=True)
            .values_list("meter_id", "amount", "quantity", "included_quantity", "over_limit_quantity"))
    for meter_id, amount, quantity, included, over in rows.iterator(chunk_size=2000):
        chargeable = quantity - included
        if chargeable > 0 and over > 0:
            result[meter_id] = result.get(meter_id, ZERO) + amount * over / chargeable
    return result


def _fees(customer_id: int, start: date, end: date) -> list[FeeLine]:
    from apps.contracts.selectors import contracts_for_customers

    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    fees = []
    for terms in contracts_for_customers(customer_ids=[customer_id]).get(customer_id, []):
        if terms.base_fee <= 0:
            continue
        c_lo = max(lo, terms.starts_at)
        c_hi = hi if terms.ends_at is None else min(hi, terms.ends_at)
        at = c_lo
        while at < c_hi:
            p_start, p_end = terms.billing_period(at)
            fees.append(FeeLine(p_start.date(), (p_end - timedelta(microseconds=1)).date(),
                                round_money(terms.base_fee), terms.currency))
            at = p_end  # the next period's start (or the contract's end, past the range)
    return sorted(fees, key=lambda f: f.period_start)


def statement(*, customer, start: date, end: date) -> Statement:
    """One line per meter, plus the contract's base fee per billing period and the included credits per period
    (granted, used, lapsed). Rated amounts are exact sums of the events (each event's amount is a difference of
    the period's cumulative price, see rating.price_position) and are rounded once, here, per line (to cents, half
    up: apps.core.money.round_money); quantities are exact. Usage rated over a hard limit is shown as not
    charged and is not in the line's amount."""
    from apps.wallets.selectors import included_credits

    usage = usage_by_meter(customer_id=customer.pk, start=start, end=end)
    current = RatedUsage.objects.filter(customer_id=customer.pk, superseded_at__isnull=True, day__gte=start,
                                        day__lte=end)
    units = dict(current.values_list("meter_id", "pricing_unit").distinct()) if usage else {}
    prices: dict[int, list] = {}
    if usage:
        for meter_id, unit_price, per in (current.order_by("meter_id", "-timestamp", "-id")
                                          .values_list("meter_id", "unit_price", "price_per_units")
                                          .distinct("meter_id") if _pg() else
                                          current.order_by("meter_id", "-timestamp", "-id")
                                          .values_list("meter_id", "unit_price", "price_per_units")):
            prices.setdefault(meter_id, [unit_price, per])
        varying = {m for m, n in current.values("meter_id").annotate(n=Count("unit_price", distinct=True))
                   .values_list("meter_id", "n") if n > 1}
    else:
        varying = set()
    not_charged = _not_charged(customer.pk, start, end) if any(m.over_limit_quantity for m in usage) else {}
    true_ups = {m: a for m, a in current.filter(amount__lt=0).values("meter_id").annotate(a=Sum("amount"))
                .values_list("meter_id", "a")} if usage else {}
    lines = []
    for m in usage:
        unit_price, per = prices.get(m.meter_id, (None, Decimal(1)))
        excluded = not_charged.get(m.meter_id, ZERO)
        lines.append(StatementLine(
            usage=m, pricing_unit=units.get(m.meter_id, ""), amount=round_money(m.amount - excluded),
            credits=round_money(m.credits), overage_amount=round_money(m.overage_amount), cost=round_money(m.cost),
            not_charged=round_money(excluded), unit_price=unit_price, price_per_units=per,
            prices_vary=m.meter_id in varying, given_back=round_money(true_ups.get(m.meter_id) or ZERO)))
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    fees = _fees(customer.pk, start, end)
    totals = {"amount": sum((line.amount for line in lines), ZERO),
              "credits": sum((line.credits for line in lines), ZERO),
              "overage_amount": sum((line.overage_amount for line in lines), ZERO),
              "cost": sum((line.cost for line in lines), ZERO),
              "not_charged": sum((line.not_charged for line in lines), ZERO),
              "base_fees": sum((f.base_fee for f in fees), ZERO),
              "events": sum(line.usage.events for line in lines)}
    return Statement(customer.external_id, customer.name, start, end, lines, totals, fees,
                     included_credits(customer_id=customer.pk, start=lo, end=hi))


def _pg() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def statement_csv(st: Statement, *, include_cost: bool = False) -> str:
    """CSV for downstream billing, one line per meter. `unit_price` is the list (or override) price of one unit
    (as last applied); `amount` is what was charged (usage over a hard limit is in `not_charged_amount`).
    The cost column is there only for callers that may see margin."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    cost_at = STATEMENT_COLUMNS.index("cost")
    writer.writerow([c for i, c in enumerate(STATEMENT_COLUMNS) if include_cost or i != cost_at])
    for line in st.lines:
        m = line.usage
        writer.writerow([
            st.customer_external_id, st.start.isoformat(), st.end.isoformat(), m.meter, m.unit,
            decimal_str(m.quantity), decimal_str(m.included_quantity), decimal_str(m.credit_quantity),
            decimal_str(m.overage_quantity), decimal_str(m.over_limit_quantity),
            decimal_str(line.per_unit_price) if line.per_unit_price is not None else "",
            f"{line.amount:f}", line.pricing_unit, f"{line.credits:f}", f"{line.overage_amount:f}",
            *([f"{line.cost:f}"] if include_cost else []),
            m.currency, m.events, f"{line.not_charged:f}"])
    return out.getvalue()


# --- pages ------------------------------------------------------------------------------------------------

def customer_usage_panel(*, customer, at: datetime | None = None) -> dict:
    """The usage panel of the customer page: this period per meter (with included usage progress),
    recent days and the charges to explain."""
    from apps.contracts.selectors import contract_in_force

    at = at or timezone.now()
    terms = contract_in_force(customer_id=customer.pk, at=at)
    if terms is not None:
        start_dt, end_dt = terms.billing_period(at)
        start, end = start_dt.date(), (end_dt - timedelta(microseconds=1)).date()
    else:
        end = at.date()
        start = end - timedelta(days=29)
    meters = usage_by_meter(customer_id=customer.pk, start=start, end=end)
    rows = []
    for m in meters:
        allowance = terms.allowances.get(m.meter_id) if terms else None
        used_pct = m.included_quantity / allowance * 100 if allowance else None
        rows.append({"usage": m, "allowance": allowance, "used_pct": used_pct})
    last = min(end, at.date())
    recent_days = (DailyUsage.objects.filter(customer_id=customer.pk, day__gte=last - timedelta(days=13), day__lte=last)
                   .order_by("-day", "meter_id"))
    meter_map = meters_by_id()
    days = [{"day": d.day, "meter": meter_map.get(d.meter_id), "rollup": d} for d in recent_days[:60]]
    recent = list(RatedUsage.objects.filter(customer_id=customer.pk, superseded_at__isnull=True,
                                            day__gte=last - timedelta(days=2))
                  .order_by("-timestamp", "-id")[:10])
    pending = UsageEvent.objects.filter(customer_id=customer.pk, state=UsageEvent.State.PENDING).count()
    errors = UsageEvent.objects.filter(customer_id=customer.pk, state=UsageEvent.State.ERROR).count()
    error_events = list(UsageEvent.objects.filter(customer_id=customer.pk, state=UsageEvent.State.ERROR)
                        .select_related("meter").order_by("-id")[:5]) if errors else []
    return {"customer": customer, "terms": terms, "start": start, "end": end, "rows": rows, "days": days,
            "recent": recent, "meter_map": meter_map, "pending": pending, "errors": errors,
            "error_events": error_events,
            "totals": {"amount": sum((m.amount for m in meters), ZERO), "credits": sum((m.credits for m in meters), ZERO),
                       "revenue": sum((m.revenue for m in meters), ZERO), "cost": sum((m.cost for m in meters), ZERO)}}


def rating_overview(*, limit: int = 20) -> dict:
    # One count per state: each is answered from its small partial index.
    counts = {state: UsageEvent.objects.filter(state=state).count()
              for state in (UsageEvent.State.PENDING, UsageEvent.State.ERROR)}
    errors = list(UsageEvent.objects.filter(state=UsageEvent.State.ERROR).select_related("customer", "meter")
                  .order_by("-id")[:limit])
    batches = list(RatingBatch.objects.select_related("actor_user", "customer").order_by("-created_at", "-id")[:limit])
    reratings = list(RatingBatch.objects.filter(kind=RatingBatch.Kind.RERATE).select_related("actor_user", "customer")
                     .order_by("-created_at", "-id")[:10])
    return {"pending": counts.get(UsageEvent.State.PENDING, 0), "errors_count": counts.get(UsageEvent.State.ERROR, 0),
            "errors": errors, "batches": batches, "reratings": reratings}


def batch_get(*, batch_id: int) -> RatingBatch:
    batch = RatingBatch.objects.select_related("actor_user", "customer").filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("No such rating batch.")
    return batch


def event_find(*, customer_external_id: str, event_id: str) -> UsageEvent | None:
    from apps.contracts.selectors import customer_ids_by_external_id

    customer_id = customer_ids_by_external_id([customer_external_id]).get(customer_external_id)
    if customer_id is None:
        return None
    return UsageEvent.objects.filter(customer_id=customer_id, event_id=event_id).only("id").first()
