"""The deferred-revenue page's data: the month's roll-forward (apps.wallets.revenue), the monthly waterfall, and the
revenue recognised split by meter (apps.usage.revenue_selectors). Plain data out."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.core.money import ZERO, round_money
from apps.usage.selectors import credit_revenue_by_meter
from apps.wallets.selectors import (
    Month,
    MonthTotal,
    RollForward,
    first_month,
    month_of,
    parse_period,
    rollforward,
    rollforward_months,
)

from .selectors import MeterInfo, meter_infos

WATERFALL_MONTHS = 6
NOT_ATTRIBUTED = "Not from rated usage (manual debits)"
ROUNDING = "Rounding (each line to the cent)"


@dataclass(frozen=True)
class MeterRevenue:
    meter: MeterInfo | None  # None: the part of the recognised revenue no rated usage accounts for
    label: str
    amount: Decimal  # cents
    share: Decimal | None  # % of the month's recognised revenue


@dataclass(frozen=True)
class DeferredRevenuePage:
    period: Month
    report: RollForward
    months: list[MonthTotal]
    by_meter: list[MeterRevenue]
    earliest: Month
    latest: Month


def period_from(value: str | None) -> tuple[Month, str]:
    """The month asked for (YYYY-MM), else this month; with the error message for a bad value."""
    this_month = month_of(timezone.now())
    if not value:
        return this_month, ""
    try:
        return parse_period(value), ""
    except ValidationFailed as error:
        return this_month, error.message


def revenue_by_meter(report: RollForward) -> list[MeterRevenue]:
    """The month's recognised revenue (the roll-forward's, in its main currency) split by the meters whose usage
    drew the credits; what rated usage does not account for is one more line, so the lines add up to it."""
    meters = meter_infos()
    total = report.total.cents.recognized
    exact = {
        meter_id: value
        for meter_id, value in credit_revenue_by_meter(start=report.period.start, end=report.period.end).items()
        if value
    }
    amounts = {meter_id: round_money(value) for meter_id, value in exact.items()}
    rows = [
        MeterRevenue(
            meters.get(meter_id), meters[meter_id].code if meter_id in meters else f"meter #{meter_id}", amount, None
        )
        for meter_id, amount in amounts.items()
    ]
    rows.sort(key=lambda r: (-r.amount, r.label))
    rest = total - sum((r.amount for r in rows), ZERO)
    if rest:
        unattributed = round_money(report.total.exact.recognized - sum(exact.values(), ZERO))
        rows.append(MeterRevenue(None, NOT_ATTRIBUTED if unattributed else ROUNDING, rest, None))
    return [MeterRevenue(r.meter, r.label, r.amount, (r.amount / total * 100) if total else None) for r in rows]


def deferred_revenue_page(*, period: Month) -> DeferredRevenuePage:
    report = rollforward(period=period)
    this_month = month_of(timezone.now())
    earliest = first_month(default=this_month)
    start = period
    for _ in range(WATERFALL_MONTHS - 1):
        if start <= earliest:
            break
        start = start.previous()
    months = rollforward_months(first=start, last=period, currency=report.total.currency)
    return DeferredRevenuePage(
        period=period,
        report=report,
        months=months,
        by_meter=revenue_by_meter(report),
        earliest=earliest,
        latest=this_month,
    )
