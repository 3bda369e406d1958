"""Usage reads. Plain data out; pages and APIs read rollups and rating cursors, never scan raw events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from apps.catalog.selectors import (
    meters_by_code,
    rate_table_version_choice,
)
from apps.contracts.policies import combine_caps, postpaid_spend_cap
from apps.contracts.selectors import contract_in_force, customer_get, customer_ids_by_external_id
from apps.core.errors import NotFound, ValidationFailed
from apps.core.money import ZERO, decimal_str, quantize_rated
from apps.core.params import check_date
from apps.wallets.selectors import credit_policy_status, wallet_balance

from .explain import bucket_explanation, charge_explanation  # noqa: F401 - read through selectors
from .models import DailyAttribution, DailyUsage, RatedUsage, RatingBatch, RatingCursor, UsageEvent
from .rating import pricing as rating

MAX_RANGE_DAYS = 400


def parse_day(value: str | None, *, field: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{field} must be a date, YYYY-MM-DD.", field=field) from None
    return check_date(day, field)


# --- customers and meters (through their apps' selectors) -------------------------------------------------


def customer_or_404(external_id: str):
    customer = customer_get(external_id=external_id)
    if customer is None:
        raise NotFound(f"No customer with external id {external_id!r}.", code="unknown_customer")
    return customer


def meter_by_code(code: str):
    return meters_by_code().get(code)


def meters_by_id() -> dict:
    return {m.id: m for m in meters_by_code().values()}


def current_period(*, customer_id: int, at: datetime | None = None) -> tuple[date, date] | None:
    """The billing period in force at `at` as (first day, last day inclusive), or None without a contract."""
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


_SUMS = (
    "events",
    "quantity",
    "included_quantity",
    "credit_quantity",
    "overage_quantity",
    "over_limit_quantity",
    "credits",
    "amount",
    "overage_amount",
    "revenue",
    "cost",
)


def usage_by_meter(*, customer_id: int, start: date, end: date, meter_id: int | None = None) -> list[MeterUsage]:
    """Per meter totals over [start, end] (days, inclusive), from the daily rollups."""
    return usage_by_meter_of(customer_ids=[customer_id], start=start, end=end, meter_id=meter_id).get(customer_id, [])


def usage_by_meter_of(
    *, customer_ids, start: date, end: date, meter_id: int | None = None
) -> dict[int, list[MeterUsage]]:
    """`usage_by_meter` for many customers at once (two queries): customer id -> per meter totals, by meter code;
    customers without usage in the range are left out."""
    qs = DailyUsage.objects.filter(customer_id__in=list(customer_ids), day__gte=start, day__lte=end)
    if meter_id is not None:
        qs = qs.filter(meter_id=meter_id)
    rows = (
        qs.values("customer_id", "meter_id")
        .annotate(**{f"s_{n}": Sum(n) for n in _SUMS})
        .order_by("customer_id", "meter_id")
    )
    currencies = {
        (c, m): currency
        for c, m, currency in qs.values_list("customer_id", "meter_id", "currency")
        .distinct()
        .order_by("customer_id", "meter_id", "currency")
    }
    meters = meters_by_id() if rows else {}
    result: dict[int, list[MeterUsage]] = {}
    for row in rows:
        meter = meters.get(row["meter_id"])
        result.setdefault(row["customer_id"], []).append(
            MeterUsage(
                meter_id=row["meter_id"],
                meter=meter.code if meter else str(row["meter_id"]),
                name=meter.name if meter else "",
                unit=meter.unit if meter else "",
                currency=currencies.get((row["customer_id"], row["meter_id"]), ""),
                **{n: row[f"s_{n}"] if row[f"s_{n}"] is not None else (0 if n == "events" else ZERO) for n in _SUMS},
            )
        )
    for usage in result.values():
        usage.sort(key=lambda m: m.meter)
    return result


def usage_api_payload(
    *, customer, start: date, end: date, meter_id: int | None = None, include_cost: bool = False
) -> dict:
    """Usage per meter for the API; `cost` only for callers that may see margin (core.permissions)."""
    meters = []
    for m in usage_by_meter(customer_id=customer.pk, start=start, end=end, meter_id=meter_id):
        row = {
            "meter": m.meter,
            "quantity": decimal_str(m.quantity),
            "credits": decimal_str(m.credits),
            "amount": decimal_str(m.amount),
        }
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
    rows = (
        qs.values("day")
        .annotate(
            quantity=Sum("quantity"),
            credits=Sum("credits"),
            amount=Sum("amount"),
            revenue=Sum("revenue"),
            cost=Sum("cost"),
            events=Sum("events"),
        )
        .order_by("day")
    )
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
    rows = (
        DailyAttribution.objects.filter(customer_id=customer_id, day__gte=start, day__lte=end, kind=kind)
        .values("value")
        .annotate(
            events=Sum("events"), credits=Sum("credits"), amount=Sum("amount"), revenue=Sum("revenue"), cost=Sum("cost")
        )
        .order_by("-amount", "value")[:limit]
    )
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
    credit_policy: dict | None = None  # the contract's credit policies and their state (issue #11)

    def as_api(self) -> dict:
        body = {
            "allowed": self.allowed,
            "reason": self.reason,
            "policy": self.policy,
            "balance": decimal_str(self.balance),
            "included_remaining": decimal_str(self.included_remaining),
        }
        if self.credit_policy is not None:  # only contracts with credit policies (issue #11) carry the key
            body["credit_policy"] = self.credit_policy
        return body


def entitlement(*, customer_id: int, meter_id: int, at: datetime | None = None) -> Entitlement:
    """May the customer use the meter now? From the contract, the rating cursors of the current period and the
    wallet balance: a handful of indexed reads, whatever the number of events.

    Reasons: no_contract, not_in_rate_table, included_remaining, unlimited, balance_available, within_overdraft,
    overage_allowed, postpaid, within_spend_limit; refusals: balance_exhausted, overdraft_limit_reached,
    spend_limit_reached."""
    at = at or timezone.now()
    terms = contract_in_force(customer_id=customer_id, at=at)
    if terms is None:
        return Entitlement(False, "no_contract", None, None, None)
    start, end = terms.billing_period(at)
    cursors = list(
        RatingCursor.objects.filter(customer_id=customer_id, period_start=start).values_list(
            "meter_id", "quantity", "overage_units"
        )
    )
    used = sum((q for m, q, _ in cursors if m == meter_id), ZERO)
    overage_used = sum((o for _, _, o in cursors), ZERO)
    allowance = terms.allowances.get(meter_id)
    included_remaining = max(allowance - used, ZERO) if allowance is not None else ZERO
    wallet_backed = terms.wallet_backed
    balance = wallet_balance(customer_id=customer_id, now=at).available_now if wallet_backed else None
    cap = rating.overage_cap(
        wallet_backed=wallet_backed, enforcement=terms.enforcement, overdraft_limit=terms.overdraft_limit
    )
    if not wallet_backed:  # a postpaid spend limit (hard) caps the period's overage, as rating does
        cap = combine_caps(cap, postpaid_spend_cap(terms.credit_policy, enforcement=terms.enforcement))
    status = (
        credit_policy_status(customer_id=customer_id, now=at, spend_used=None if wallet_backed else overage_used)
        if terms.credit_policy is not None
        else None
    )
    common = dict(
        policy=terms.enforcement,
        balance=balance,
        included_remaining=included_remaining,
        billing_model=terms.billing_model,
        period_start=start,
        period_end=end,
        used_quantity=used,
        overage_used=overage_used,
        overage_cap=cap,
        credit_policy=status.as_api() if status else None,
    )

    choice = rate_table_version_choice(rate_table_id=terms.rate_table_id, contract=terms.facts, at=at)
    version = choice.version if choice else None
    if version is None or meter_id not in version.rates:
        return Entitlement(False, "not_in_rate_table", **common)
    if included_remaining > 0:
        return Entitlement(True, "included_remaining", **common)
    if terms.enforcement == "unlimited":
        return Entitlement(True, "unlimited", **common)
    if wallet_backed:
        if status is not None and status.spend_limit_reached and terms.enforcement == "hard":
            return Entitlement(False, "spend_limit_reached", **common)
        if balance > 0:
            return Entitlement(True, "balance_available", **common)
        if cap is None:
            return Entitlement(True, "overage_allowed", **common)
        if overage_used < cap:
            return Entitlement(True, "within_overdraft", **common)
        return Entitlement(
            False, "balance_exhausted" if terms.enforcement == "hard" else "overdraft_limit_reached", **common
        )
    if cap is None:
        return Entitlement(True, "postpaid", **common)
    if overage_used < cap:
        return Entitlement(True, "within_spend_limit", **common)
    return Entitlement(False, "spend_limit_reached", **common)


# --- pages ------------------------------------------------------------------------------------------------


def customer_usage_panel(*, customer, at: datetime | None = None) -> dict:
    """The usage panel of the customer page: this period per meter (with included usage progress),
    recent days and the charges to explain."""
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
    recent_days = DailyUsage.objects.filter(
        customer_id=customer.pk, day__gte=last - timedelta(days=13), day__lte=last
    ).order_by("-day", "meter_id")
    meter_map = meters_by_id()
    days = [{"day": d.day, "meter": meter_map.get(d.meter_id), "rollup": d} for d in recent_days[:60]]
    recent = list(
        RatedUsage.objects.filter(
            customer_id=customer.pk, superseded_at__isnull=True, day__gte=last - timedelta(days=2)
        ).order_by("-timestamp", "-id")[:10]
    )
    pending = UsageEvent.objects.filter(customer_id=customer.pk, state=UsageEvent.State.PENDING).count()
    errors = UsageEvent.objects.filter(customer_id=customer.pk, state=UsageEvent.State.ERROR).count()
    error_events = (
        list(
            UsageEvent.objects.filter(customer_id=customer.pk, state=UsageEvent.State.ERROR)
            .select_related("meter")
            .order_by("-id")[:5]
        )
        if errors
        else []
    )
    return {
        "customer": customer,
        "terms": terms,
        "start": start,
        "end": end,
        "rows": rows,
        "days": days,
        "recent": recent,
        "meter_map": meter_map,
        "pending": pending,
        "errors": errors,
        "error_events": error_events,
        "totals": {
            "amount": sum((m.amount for m in meters), ZERO),
            "credits": sum((m.credits for m in meters), ZERO),
            "revenue": sum((m.revenue for m in meters), ZERO),
            "cost": sum((m.cost for m in meters), ZERO),
        },
    }


def rating_overview(*, limit: int = 20) -> dict:
    # One count per state: each is answered from its small partial index.
    counts = {
        state: UsageEvent.objects.filter(state=state).count()
        for state in (UsageEvent.State.PENDING, UsageEvent.State.ERROR)
    }
    errors = list(
        UsageEvent.objects.filter(state=UsageEvent.State.ERROR)
        .select_related("customer", "meter")
        .order_by("-id")[:limit]
    )
    batches = list(RatingBatch.objects.select_related("actor_user", "customer").order_by("-created_at", "-id")[:limit])
    reratings = list(
        RatingBatch.objects.filter(kind=RatingBatch.Kind.RERATE)
        .select_related("actor_user", "customer")
        .order_by("-created_at", "-id")[:10]
    )
    return {
        "pending": counts.get(UsageEvent.State.PENDING, 0),
        "errors_count": counts.get(UsageEvent.State.ERROR, 0),
        "errors": errors,
        "batches": batches,
        "reratings": reratings,
    }


def batch_get(*, batch_id: int) -> RatingBatch:
    batch = RatingBatch.objects.select_related("actor_user", "customer").filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("No such rating batch.")
    return batch


def event_find(*, customer_external_id: str, event_id: str) -> UsageEvent | None:
    customer_id = customer_ids_by_external_id([customer_external_id]).get(customer_external_id)
    if customer_id is None:
        return None
    return UsageEvent.objects.filter(customer_id=customer_id, event_id=event_id).only("id").first()


# --- rollup reads for insights and alerts (in rollup_selectors.py; other apps import them from here)
# --- credits revenue by meter for the deferred-revenue page (in revenue_selectors.py)
from .revenue_selectors import credit_revenue_by_meter  # noqa: E402
from .rollup_selectors import (  # noqa: E402
    AttributionTotal,
    CustomerMeterTotal,
    MeterDay,
    MeterPeriod,
    customers_with_usage_since,
    daily_quantities,
    meter_days_between,
    period_totals,
    rollup_attribution,
    rollup_customer_measure,
    rollup_customer_meter_totals,
    rollup_days_by_meter,
    rollup_days_since,
    usage_event_count,
)

__all__ = [
    "AttributionTotal",
    "CustomerMeterTotal",
    "MeterDay",
    "MeterPeriod",
    "customers_with_usage_since",
    "daily_quantities",
    "meter_days_between",
    "period_totals",
    "rollup_attribution",
    "rollup_customer_meter_totals",
    "rollup_customer_measure",
    "rollup_days_by_meter",
    "rollup_days_since",
    "credit_revenue_by_meter",
    "usage_event_count",
]
