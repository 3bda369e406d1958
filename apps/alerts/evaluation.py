"""What each rule kind watches, as pure functions of one customer's figures (no database here).

A rule yields one `Condition` per subject (a meter, or the whole account) and window (the billing period, or the
day for spikes): active or not, with the value it was judged on. services.alerts_evaluate turns conditions into
alerts (fire, keep, resolve).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from apps.core.money import ZERO, display_amount

from .models import THRESHOLD_UNITS, Kind

HUNDRED = Decimal(100)
SPIKE_TRAILING_DAYS = 7
TWO = Decimal("0.01")


@dataclass(frozen=True)
class RuleView:
    id: int
    kind: str
    threshold: Decimal
    meter_id: int | None


@dataclass(frozen=True)
class MeterRef:
    id: int
    code: str
    unit_plural: str


@dataclass
class Figures:
    """One customer's figures at an instant (from the rollups, the wallet and the contract in force)."""

    customer_name: str
    today: date
    now: datetime
    period_start: date
    period_end: date | None
    billing_model: str  # "" without a contract in force
    currency: str
    allowances: dict[int, Decimal]
    # meter -> day -> quantity, from min(period start, today - 8 days) up to today
    daily: dict[int, dict[date, Decimal]]
    # meter -> (quantity, billed at price in currency, cost of the charged part, overage_amount), period to date
    period: dict[int, tuple[Decimal, Decimal, Decimal, Decimal]]
    meters: dict[int, MeterRef]
    balance: Decimal | None = None  # None: no wallet
    runway_days: Decimal | None = None
    runs_out_on: date | None = None
    burn_per_day: Decimal = ZERO
    has_wallet: bool = False
    # credit policies (issue #11): the auto top-ups issued this period (grant id, instant, credits), and the
    # period's consumption against the spend limit (credits when wallet-backed, else currency billed in arrears)
    topups: list[tuple[int, datetime, Decimal]] = field(default_factory=list)
    spend_used: Decimal | None = None
    spend_unit: str = ""

    @property
    def window(self) -> str:
        return self.period_start.isoformat()


@dataclass(frozen=True)
class Condition:
    rule_id: int
    kind: str
    subject: str
    meter_id: int | None
    window: str
    active: bool
    value: Decimal | None
    threshold: Decimal
    unit: str
    occurred_on: date
    message: str
    detail: dict = field(default_factory=dict)


def q2(value: Decimal) -> Decimal:
    return value.quantize(TWO, rounding=ROUND_HALF_UP)


def _pct(value: Decimal) -> str:
    return f"{value:,.1f} %"


def conditions_for(rule: RuleView, fig: Figures) -> list[Condition]:
    return {
        Kind.INCLUDED_USAGE: _included_usage,
        Kind.BALANCE_BELOW: _balance_below,
        Kind.RUNWAY_BELOW: _runway_below,
        Kind.POSTPAID_SPEND_ABOVE: _postpaid_spend,
        Kind.DAILY_SPIKE: _daily_spike,
        Kind.NEGATIVE_MARGIN: _negative_margin,
        Kind.AUTO_TOPUP: _auto_topup,
        Kind.SPEND_LIMIT: _spend_limit,
    }[rule.kind](rule, fig)


def _cond(
    rule: RuleView,
    fig: Figures,
    *,
    active: bool,
    value,
    message: str,
    meter: MeterRef | None = None,
    window: str | None = None,
    occurred_on: date | None = None,
    unit: str | None = None,
    detail: dict | None = None,
) -> Condition:
    return Condition(
        rule_id=rule.id,
        kind=rule.kind,
        subject=meter.code if meter else "",
        meter_id=meter.id if meter else None,
        window=window or fig.window,
        active=active,
        value=value,
        threshold=rule.threshold,
        unit=unit or THRESHOLD_UNITS[rule.kind],
        occurred_on=occurred_on or fig.today,
        message=message[:300],
        detail=detail or {},
    )


def _meters_for(rule: RuleView, candidates, fig: Figures) -> list[MeterRef]:
    ids = [rule.meter_id] if rule.meter_id else sorted(candidates)
    return [fig.meters[i] for i in ids if i in fig.meters]


def _included_usage(rule: RuleView, fig: Figures) -> list[Condition]:
    result = []
    for meter in _meters_for(rule, fig.allowances, fig):
        allowance = fig.allowances.get(meter.id, ZERO)
        if allowance <= 0:
            continue
        used = fig.period.get(meter.id, (ZERO,))[0]
        pct = used / allowance * HUNDRED
        active = pct >= rule.threshold
        crossed_on = fig.today
        if active:  # the first day the period's cumulative use reached the threshold
            cumulative = ZERO
            for day in sorted(d for d in fig.daily.get(meter.id, {}) if d >= fig.period_start):
                cumulative += fig.daily[meter.id][day]
                if cumulative * HUNDRED >= allowance * rule.threshold:
                    crossed_on = day
                    break
        message = (
            f"{fig.customer_name}: {_pct(pct)} of the included {meter.code} used "
            f"({display_amount(used)} of {display_amount(allowance)} {meter.unit_plural}); threshold {display_amount(rule.threshold)} %"
        )
        result.append(
            _cond(
                rule,
                fig,
                active=active,
                value=q2(pct),
                message=message,
                meter=meter,
                occurred_on=crossed_on,
                detail={
                    "used": str(used),
                    "allowance": str(allowance),
                    "unit": meter.unit_plural,
                    "period_end": fig.period_end.isoformat() if fig.period_end else None,
                },
            )
        )
    return result


def _balance_below(rule: RuleView, fig: Figures) -> list[Condition]:
    if not fig.has_wallet or fig.balance is None:
        return []
    active = fig.balance < rule.threshold
    message = f"{fig.customer_name}: balance {display_amount(fig.balance)} credits, below {display_amount(rule.threshold)} credits"
    return [
        _cond(
            rule,
            fig,
            active=active,
            value=fig.balance,
            message=message,
            detail={"burn_per_day": str(q2(fig.burn_per_day))},
        )
    ]


def _runway_below(rule: RuleView, fig: Figures) -> list[Condition]:
    if not fig.has_wallet:
        return []
    days = fig.runway_days
    active = days is not None and days < rule.threshold
    if days is None:
        message = f"{fig.customer_name}: the balance does not run out within the forecast horizon"
    else:
        message = (
            f"{fig.customer_name}: runway {days:,.1f} days (runs out {fig.runs_out_on:%b %-d, %Y}), "
            f"below {display_amount(rule.threshold)} days"
        )
    return [
        _cond(
            rule,
            fig,
            active=active,
            value=days,
            message=message,
            detail={
                "runs_out_on": fig.runs_out_on.isoformat() if fig.runs_out_on else None,
                "burn_per_day": str(q2(fig.burn_per_day)),
                "balance": str(fig.balance),
            },
        )
    ]


def _postpaid_spend(rule: RuleView, fig: Figures) -> list[Condition]:
    if not fig.billing_model:
        return []
    spend = sum((v[3] for v in fig.period.values()), ZERO)
    active = spend > rule.threshold
    message = (
        f"{fig.customer_name}: {display_amount(q2(spend))} {fig.currency} billed in arrears this period, above "
        f"{display_amount(rule.threshold)} {fig.currency}"
    )
    return [
        _cond(
            rule,
            fig,
            active=active,
            value=q2(spend),
            message=message,
            unit=fig.currency,
            detail={"currency": fig.currency},
        )
    ]


def _daily_spike(rule: RuleView, fig: Figures) -> list[Condition]:
    """Each of yesterday and today against the average of the 7 days before it (days without usage count 0)."""
    result = []
    for meter in _meters_for(rule, fig.daily, fig):
        series = fig.daily.get(meter.id, {})
        for day in (fig.today - timedelta(days=1), fig.today):
            trailing = sum((series.get(day - timedelta(days=i), ZERO) for i in range(1, SPIKE_TRAILING_DAYS + 1)), ZERO)
            average = trailing / SPIKE_TRAILING_DAYS
            quantity = series.get(day, ZERO)
            if average <= 0:
                continue  # no baseline: nothing to compare with
            ratio = quantity / average
            active = ratio >= rule.threshold
            message = (
                f"{fig.customer_name}: {display_amount(quantity)} {meter.unit_plural} of {meter.code} on "
                f"{day:%b %-d}, {display_amount(q2(ratio))}× the trailing 7-day average of {display_amount(q2(average))}"
            )
            result.append(
                _cond(
                    rule,
                    fig,
                    active=active,
                    value=q2(ratio),
                    message=message,
                    meter=meter,
                    window=day.isoformat(),
                    occurred_on=day,
                    detail={"quantity": str(quantity), "average": str(q2(average)), "unit": meter.unit_plural},
                )
            )
    return result


def _negative_margin(rule: RuleView, fig: Figures) -> list[Condition]:
    """Price margin of charged usage (billed > 0): what the usage was billed at against the cost of the part no
    included allowance covered. Free credits count at face value: a promotion is not a pricing problem."""
    result = []
    for meter in _meters_for(rule, fig.period, fig):
        _q, billed, cost, _o = fig.period.get(meter.id, (ZERO, ZERO, ZERO, ZERO))
        if billed <= 0:
            continue
        pct = (billed - cost) / billed * HUNDRED
        active = pct < rule.threshold
        message = (
            f"{fig.customer_name}: margin {_pct(pct)} on {meter.code} this period (billed "
            f"{display_amount(q2(billed))} {fig.currency}, cost {display_amount(q2(cost))}); threshold {display_amount(rule.threshold)} %"
        )
        result.append(
            _cond(
                rule,
                fig,
                active=active,
                value=q2(pct),
                message=message,
                meter=meter,
                detail={"billed": str(billed), "cost": str(cost)},
            )
        )
    return result


def _auto_topup(rule: RuleView, fig: Figures) -> list[Condition]:
    """One condition per auto top-up issued this period (its own subject): each is notified once."""
    return [
        replace(
            _cond(
                rule,
                fig,
                active=True,
                value=amount,
                message=f"{fig.customer_name}: auto top-up of {display_amount(amount)} credits (the balance fell below "
                f"{display_amount(rule.threshold)} credits), billed at the period close",
                occurred_on=at.date(),
                detail={"grant_id": grant_id, "at": at.isoformat()},
            ),
            subject=f"topup-{grant_id}",
        )
        for grant_id, at, amount in fig.topups
    ]


def _spend_limit(rule: RuleView, fig: Figures) -> list[Condition]:
    if fig.spend_used is None:
        return []
    active = fig.spend_used >= rule.threshold
    message = (
        f"{fig.customer_name}: {display_amount(q2(fig.spend_used))} {fig.spend_unit} consumed this period, spend limit "
        f"{display_amount(rule.threshold)} {fig.spend_unit} reached"
    )
    return [_cond(rule, fig, active=active, value=q2(fig.spend_used), message=message, unit=fig.spend_unit[:12])]
