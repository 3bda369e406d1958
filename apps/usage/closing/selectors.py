"""Period-close reads: which months are closed, each month's statements (frozen when closed, as things stand when
open), the late adjustments the next open month carries, and the record of closing and reopening."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from django.utils import timezone

from apps.contracts.selectors import contracts_for_customers, customer_get, customers_all
from apps.core.errors import NotFound
from apps.core.money import ZERO
from apps.wallets.selectors import purchases_of

from ..statements import fees_starting_in
from .models import ClosedPeriod, FrozenLine, FrozenStatement, PeriodAction, ReopenRequest
from .statements import (
    ADJUSTMENT,
    BASE_FEE,
    CREDIT_PURCHASE,
    FEE_ADJUSTMENT,
    LINE_FIELDS,
    USAGE,
    USAGE_FIGURES,
    LateFee,
    LateFees,
    LatePurchases,
    Line,
    PeriodStatement,
    build_statements,
    grant_key,
    month_bounds,
    month_label,
    month_last_day,
    next_month,
    period_hash,
    previous_month,
    usage_by_meter_in_month,
)

LIST_MONTHS = 12  # months shown on the period list (older closed ones are listed too)


def closes_in_force() -> dict[date, ClosedPeriod]:
    """The closed months (a reopened close no longer counts), by month."""
    return {
        p.month: p for p in ClosedPeriod.objects.filter(status=ClosedPeriod.Status.CLOSED).select_related("closed_by")
    }


def close_in_force(*, month: date) -> ClosedPeriod | None:
    return (
        ClosedPeriod.objects.filter(month=month, status=ClosedPeriod.Status.CLOSED).select_related("closed_by").first()
    )


def adjustment_month(closes: dict[date, ClosedPeriod]) -> date | None:
    """The open month late usage for closed months lands in: the month after the latest closed one."""
    return next_month(max(closes)) if closes else None


def month_has_ended(month: date, now: datetime | None = None) -> bool:
    return next_month(month) <= (now or timezone.now()).date()


# --- late adjustments ------------------------------------------------------------------------------------------


@dataclass
class Carried:
    """What closed statements already carry for the closed months: per (customer, closed month), per meter, the
    usage figures (the month's own frozen usage lines plus the adjustments for it that later closed months carry);
    and the (customer, purchase key) of every purchase on a closed statement (as a purchase of its month, or as
    an adjustment for it); per (customer, closed month), the base fees carried (its own lines and later
    adjustments for it)."""

    usage: dict
    purchases: set[tuple[int, str]]
    fees: dict[tuple[int, date], Decimal] = field(default_factory=dict)  # (customer, closed month) -> base fees


def carried(closes: dict[date, ClosedPeriod]) -> Carried:
    booked: dict = defaultdict(lambda: defaultdict(lambda: dict.fromkeys(USAGE_FIGURES, ZERO)))
    purchases: set[tuple[int, str]] = set()
    fees: dict[tuple[int, date], Decimal] = defaultdict(lambda: ZERO)
    if not closes:
        return Carried(booked, purchases, fees)
    by_id = {p.pk: m for m, p in closes.items()}
    rows = FrozenLine.objects.filter(
        statement__period_id__in=list(by_id), kind__in=[BASE_FEE, USAGE, ADJUSTMENT, CREDIT_PURCHASE]
    ).values_list(
        "statement__customer_id", "statement__period_id", "kind", "line_id", "meter", "reference", *USAGE_FIGURES
    )
    labels = {month_label(m): m for m in closes}
    for customer_id, period_id, kind, line_id, meter, reference, *figures in rows:
        key = line_id.rsplit(":", 1)[-1]
        if kind == BASE_FEE or (kind == ADJUSTMENT and key == FEE_ADJUSTMENT):
            fee_month = by_id[period_id] if kind == BASE_FEE else labels.get(reference)
            if fee_month is not None:  # (an adjustment for a month since reopened: its fees are live again)
                fees[(customer_id, fee_month)] += figures[USAGE_FIGURES.index("amount")] or ZERO
            continue
        if kind == CREDIT_PURCHASE or (kind == ADJUSTMENT and not meter):  # a purchase (or one carried late)
            purchases.add((customer_id, key))
            continue
        month = by_id[period_id] if kind == USAGE else labels.get(reference)
        if month is None:  # an adjustment for a month that has since been reopened: its figures are live again
            continue
        sums = booked[(customer_id, month)][meter]
        for name, value in zip(USAGE_FIGURES, figures, strict=True):
            sums[name] += value or ZERO
    return Carried(booked, purchases, fees)


def late_adjustments(
    *, customer_ids: list[int], closes: dict[date, ClosedPeriod], booked: Carried | None = None
) -> dict[int, list[tuple[date, str, dict[str, Decimal]]]]:
    """Per customer, per closed month and meter: what the month's usage is now minus what closed statements
    already carry. Late events (and re-rates) after a close show up here, and only here; the closed statements
    never change. Two queries per closed month, whatever the number of customers."""
    booked = carried(closes) if booked is None else booked
    result: dict[int, list] = defaultdict(list)
    for month in sorted(closes):
        live_of = usage_by_meter_in_month(customer_ids=customer_ids, month=month)
        for customer_id in customer_ids:
            live = live_of.get(customer_id, {})
            before_of = booked.usage.get((customer_id, month), {})
            for meter in sorted(set(live) | set(before_of)):
                now = live.get(meter, {})
                before = before_of.get(meter, {})
                diff = {n: now.get(n, ZERO) - before.get(n, ZERO) for n in USAGE_FIGURES}
                if any(diff.values()):
                    result[customer_id].append((month, meter, diff))
    return result


def late_purchases(
    *, customer_ids: list[int], closes: dict[date, ClosedPeriod], booked: Carried | None = None
) -> dict[int, LatePurchases]:
    """Per customer, the purchases (and automatic top-ups) dated in a closed month that no closed statement
    carries: recorded (or back-dated) after the month's close. Each is billed once, as an adjustment on the next
    open month referencing the closed one; the closed statements never change. One query."""
    if not closes:
        return {}
    booked = carried(closes) if booked is None else booked
    lo, _ = month_bounds(min(closes))
    _, hi = month_bounds(max(closes))
    result: dict[int, list] = defaultdict(list)
    for customer_id, grants in purchases_of(customer_ids=customer_ids, start=lo, end=hi).items():
        for g in grants:
            month = g.effective_at.astimezone(UTC).date().replace(day=1)
            if month in closes and (customer_id, grant_key(g)) not in booked.purchases:
                result[customer_id].append((month, g))
    return result


def late_fees(
    *, customer_ids: list[int], closes: dict[date, ClosedPeriod], booked: Carried | None = None
) -> dict[int, LateFees]:
    """Per customer, per closed month: its base fees as the contracts stand now (the billing periods starting in
    it) against what closed statements carry for it, where they differ: a contract recorded, back-dated or changed
    after the month's close. The difference is billed once, as an adjustment on the next open month referencing
    the closed one; the closed statements never change. One query."""
    if not closes:
        return {}
    booked = carried(closes) if booked is None else booked
    result: dict[int, list] = defaultdict(list)
    contracts = contracts_for_customers(customer_ids=customer_ids)
    for customer_id in customer_ids:
        terms = contracts.get(customer_id, [])
        for month in sorted(closes):
            fees = fees_starting_in(contracts=terms, start=month, end=month_last_day(month))
            now = sum((f.base_fee for f in fees), ZERO)
            before = booked.fees.get((customer_id, month), ZERO)
            if now != before:
                currency = fees[-1].currency if fees else ""
                result[customer_id].append(LateFee(month, now, before, currency))
    return result


# --- statements ------------------------------------------------------------------------------------------------


def _frozen(fs: FrozenStatement, month: date) -> PeriodStatement:
    lines = [Line(**{name: getattr(ln, name) for name in LINE_FIELDS}) for ln in fs.lines.all()]
    return PeriodStatement(month, fs.customer_id, fs.customer_external_id, fs.customer_name, fs.currency, lines)


def frozen_statements(*, period: ClosedPeriod) -> list[tuple[PeriodStatement, str]]:
    """A close's statements as frozen, with the hash stored at the close (compare with `.content_hash`)."""
    rows = period.statements.prefetch_related("lines").order_by("customer_external_id")
    return [(_frozen(fs, period.month), fs.content_hash) for fs in rows]


def live_statements(*, month: date, customer=None) -> list[PeriodStatement]:
    """Every customer's statement for an open month, as things stand (customers with nothing to bill left out);
    the month after the latest closed one carries the late adjustments. One set of queries for all customers
    (closing.statements.build_statements)."""
    closes = closes_in_force()
    customers = [customer] if customer is not None else customers_all()
    ids = [c.pk for c in customers]
    adjustments: dict = {}
    purchases: dict = {}
    fees: dict = {}
    if adjustment_month(closes) == month:
        booked = carried(closes)
        adjustments = late_adjustments(customer_ids=ids, closes=closes, booked=booked)
        purchases = late_purchases(customer_ids=ids, closes=closes, booked=booked)
        fees = late_fees(customer_ids=ids, closes=closes, booked=booked)
    built = build_statements(
        customers=customers, month=month, adjustments=adjustments, late_purchases=purchases, late_fees=fees
    )
    return sorted((st for st in built.values() if st.lines), key=lambda s: s.customer_external_id)


def frozen_intact(*, period: ClosedPeriod) -> bool:
    """Whether the stored lines still hash to what was frozen, statement by statement and for the whole month."""
    frozen = frozen_statements(period=period)
    return all(st.content_hash == h for st, h in frozen) and period_hash([st for st, _ in frozen]) == (
        period.content_hash
    )


def period_statements(*, month: date) -> list[PeriodStatement]:
    """The month's statements: frozen if it is closed, else as things stand now."""
    period = close_in_force(month=month)
    if period is not None:
        return [st for st, _ in frozen_statements(period=period)]
    return live_statements(month=month)


def customer_statement(*, month: date, external_id: str) -> tuple[PeriodStatement, ClosedPeriod | None]:
    customer = customer_get(external_id=external_id)
    if customer is None:
        raise NotFound(f"No customer with external id {external_id!r}.", code="unknown_customer")
    period = close_in_force(month=month)
    if period is not None:
        fs = period.statements.filter(customer_id=customer.pk).prefetch_related("lines").first()
        if fs is None:
            return PeriodStatement(month, customer.pk, customer.external_id, customer.name, ""), period
        return _frozen(fs, month), period
    found = live_statements(month=month, customer=customer)
    return (found[0] if found else PeriodStatement(month, customer.pk, customer.external_id, customer.name, "")), None


# --- the period list and page ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodRow:
    month: date
    status: str  # open | closed
    ended: bool
    close: ClosedPeriod | None
    pending_reopen: ReopenRequest | None
    closable: bool  # ended, open, and next in order

    @property
    def label(self) -> str:
        return month_label(self.month)


def next_to_close(closes: dict[date, ClosedPeriod], now: datetime | None = None) -> date | None:
    """Months close in order: the month after the latest closed one; without any close, any ended month (the
    list offers last month)."""
    today = (now or timezone.now()).date()
    candidate = adjustment_month(closes) or previous_month(today.replace(day=1))
    return candidate if month_has_ended(candidate, now) else None


def period_rows(*, now: datetime | None = None) -> list[PeriodRow]:
    now = now or timezone.now()
    closes = closes_in_force()
    pending = {r.period_id: r for r in ReopenRequest.objects.filter(status=ReopenRequest.Status.PENDING)}
    month = now.date().replace(day=1)
    months = set()
    for _ in range(LIST_MONTHS):
        months.add(month)
        month = previous_month(month)
    months |= set(closes)
    first_close = next_to_close(closes, now)
    rows = []
    for m in sorted(months, reverse=True):
        close = closes.get(m)
        rows.append(
            PeriodRow(
                month=m,
                status="closed" if close else "open",
                ended=month_has_ended(m, now),
                close=close,
                pending_reopen=pending.get(close.pk) if close else None,
                closable=close is None and (m == first_close if closes else month_has_ended(m, now)),
            )
        )
    return rows


def period_row(*, month: date, now: datetime | None = None) -> PeriodRow:
    now = now or timezone.now()
    closes = closes_in_force()
    close = closes.get(month)
    first_close = next_to_close(closes, now)
    pending = (
        ReopenRequest.objects.filter(period=close, status=ReopenRequest.Status.PENDING)
        .select_related("requested_by")
        .first()
        if close
        else None
    )
    return PeriodRow(
        month=month,
        status="closed" if close else "open",
        ended=month_has_ended(month, now),
        close=close,
        pending_reopen=pending,
        closable=close is None and (month == first_close if closes else month_has_ended(month, now)),
    )


def period_actions(*, month: date) -> list[PeriodAction]:
    return list(PeriodAction.objects.filter(month=month).select_related("actor").order_by("-at", "-id"))


def reopen_request_get(*, request_id: int) -> ReopenRequest | None:
    return ReopenRequest.objects.filter(pk=request_id).select_related("period", "requested_by").first()
