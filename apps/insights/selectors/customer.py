"""One customer's consumption page: daily usage, included usage, balance, credits drawn, attribution, alerts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from django.utils import timezone

from apps.alerts.selectors import TimelineMarker
from apps.alerts.selectors import timeline_markers as alert_markers
from apps.contracts.selectors import contract_in_force
from apps.core.money import ZERO
from apps.usage.selectors import AttributionTotal, MeterDay, rollup_attribution, rollup_days_by_meter
from apps.wallets.selectors import DailyDraws, wallet_balances_by_day, wallet_draws_by_day, wallet_runway

from .common import HUNDRED, DateRange, MeterInfo, meter_infos, utc_today

AttributionRow = AttributionTotal  # one row of the top users / agents / teams
CreditsDay = DailyDraws  # credits drawn in a day from paid and from free grants


# --- one customer --------------------------------------------------------------------------------------------


def customer_daily_by_meter(*, customer_id: int, period: DateRange) -> list[MeterDay]:
    return rollup_days_by_meter(start=period.start, end=period.end, customer_id=customer_id)


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


def included_usage(
    *,
    customer_id: int,
    now: datetime | None = None,
    meters: dict[int, MeterInfo] | None = None,
    terms=...,
    known: tuple[DateRange, list[MeterDay]] | None = None,
) -> IncludedUsage:
    """Per meter with an included allowance: use in the current billing period against it (with the days each
    of the contract's alert thresholds was reached). `known`: a range and the customer's day x meter rows over
    it (`customer_daily_by_meter`), which the caller already has; when the billing period so far lies inside
    that range its rows are taken from there instead of read again."""
    now = now or timezone.now()
    if terms is ...:  # the caller may pass the contract in force it already has
        terms = contract_in_force(customer_id=customer_id, at=now)
    if terms is None:
        return IncludedUsage(None, None, "", [], has_contract=False)
    start, end = terms.billing_period(now)
    if not terms.allowances:
        return IncludedUsage(start, end, terms.billing_model, [], has_contract=True)
    meters = meters or meter_infos()
    first, until = start.astimezone(UTC).date(), utc_today(now)
    if known is not None and known[0].start <= first and until <= known[0].end:
        days = [d for d in known[1] if first <= d.day <= until]
    else:
        days = period_meter_days(customer_id=customer_id, period_start=first, until=until)
    return IncludedUsage(
        start,
        end,
        terms.billing_model,
        allowance_rows(terms.allowances, terms.alert_thresholds, days, meters),
        has_contract=True,
    )


def allowance_rows(
    allowances: dict[int, Decimal], thresholds: Iterable[int], days: list[MeterDay], meters: dict[int, MeterInfo]
) -> list[Allowance]:
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
    now = now or timezone.now()
    ledger = wallet_balances_by_day(customer_id=customer_id, start=period.start_at, end=period.end_at)
    if ledger is None:
        return BurnDown(False, [], ZERO, ZERO, None, None, 14, now)
    today = utc_today(now)
    points = []
    balance = ledger.opening
    for d in period.dates():
        if d > today:
            break
        balance += ledger.net_by_day.get(d, ZERO)
        points.append(BalancePoint(d, balance))
    runway = wallet_runway(customer_id=customer_id, now=now)
    return BurnDown(
        True, points, ledger.balance, runway.burn_per_day, runway.runs_out_at, runway.days_left, runway.basis_days, now
    )


def credits_paid_free(*, customer_id: int, period: DateRange) -> list[CreditsDay]:
    """Credits drawn per day from paid grants and from free ones (promotional, support, zero-priced), net of
    reversals, from the ledger's allocations (one query)."""
    draws = wallet_draws_by_day(customer_id=customer_id, start=period.start_at, end=period.end_at)
    return [draws.get(d, CreditsDay(d, ZERO, ZERO, ZERO)) for d in period.dates()]


def attribution_top(*, customer_id: int, period: DateRange, limit: int = 10) -> dict[str, list[AttributionRow]]:
    """Top users, agents and teams by amount (then events) over the range (one query)."""
    return rollup_attribution(customer_id=customer_id, start=period.start, end=period.end, limit=limit)


# --- the alerts on the time axis (read from alerts' selectors) ------------------------------------------------


def timeline_markers(*, customer_id: int, period: DateRange) -> list[TimelineMarker]:
    return sorted(alert_markers(customer_id=customer_id, start=period.start, end=period.end), key=lambda m: m.at)
