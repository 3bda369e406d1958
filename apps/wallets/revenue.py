"""Deferred revenue of prepaid credits: the roll-forward, per customer and in total, for UTC months. Reads only.

The one home of these rules (DESIGN "Credit policies and period close"):

- A paid grant's deferred balance is its remaining credits x its price per credit, in the customer's contract
  currency. Every movement of a grant is valued at that grant's price per credit, exactly (a free grant's
  movements are worth zero: free credits show in the credit columns only):

  purchased    GRANT entries: the credits granted;
  recognized   DEBIT allocations: the credits drawn by usage (or a manual debit);
  breakage     EXPIRY entries: what was left when the grant expired (and credits given back to a grant that had
               expired, which lapse again at once);
  adjustments  REVERSAL allocations, signed: a give-back returns drawn credits (+), a take-back of an earlier
               true-up takes them again (-); VOID entries (-): a voided grant's remaining is cancelled (a refund or a
               mistaken grant), which is neither consumption nor breakage; credits rolled over: the void on the
               expiring grant (-) and the rollover grant at the same price (+), which net to zero.

  So closing = opening + purchased - recognized - breakage + adjustments holds exactly, and the closing balance
  equals the sum of (remaining x price) over the customer's paid grants as the ledger stood at the period's end.
- A movement belongs to the month of its ledger entry's `effective_at` (UTC): a debit's usage instant, a grant's
  effective instant, an expiry's expiry instant; a void's or a give-back's instant is when it was made. Late
  usage rated after a month was reported moves that month's figures (the period close freezes statements).
- Rounding to cents, once per cell, so that rounded cells still add up: each flow is rounded as a running total
  since the first movement (round(total to the period's end) - round(total to its start)), and a balance is the
  sum of those rounded running totals. Then the identity holds on the rounded cells, a month's opening is the
  previous month's closing, the total row is the sum of the customer rows, each flow is within a cent of its
  exact value and each balance within two cents (the exact values are kept on every row).

The ledger's recorded `revenue` (debits and give-backs) is the same credits x price rounded to 12 places; this
module multiplies again instead, exactly, so that the balance is exactly remaining x price.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, localcontext

from django.db import connections
from django.db.models import Case, CharField, F, Sum, Value, When
from django.db.models.functions import TruncMonth

from apps.contracts.selectors import contracts_for_customers, customer_names
from apps.core.errors import ValidationFailed
from apps.core.money import ZERO, round_money

from .models import CreditGrant, LedgerAllocation, LedgerEntry

COLUMNS = ("opening", "purchased", "recognized", "breakage", "adjustments", "closing")
FLOWS = ("purchased", "recognized", "breakage", "adjustments")
SIGN = {"purchased": 1, "recognized": -1, "breakage": -1, "adjustments": 1}
DEFAULT_CURRENCY = "USD"
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")
E = LedgerEntry.EntryType


# --- months ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Month:
    """A UTC calendar month [start, end)."""

    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m}"

    @property
    def title(self) -> str:
        return f"{self.start:%B %Y}"

    def previous(self) -> Month:
        year, month = (self.start.year, self.start.month - 1) if self.start.month > 1 else (self.start.year - 1, 12)
        return month_of(datetime(year, month, 1, tzinfo=UTC))

    def next(self) -> Month:
        return month_of(self.end)


def month_of(at: datetime) -> Month:
    at = at.astimezone(UTC)
    start = datetime(at.year, at.month, 1, tzinfo=UTC)
    end = datetime(at.year + 1, 1, 1, tzinfo=UTC) if at.month == 12 else datetime(at.year, at.month + 1, 1, tzinfo=UTC)
    return Month(start, end)


def parse_period(value: object, *, field: str = "period") -> Month:
    """'YYYY-MM' -> the UTC month; anything else is a ValidationFailed (code bad_period)."""
    text = value.strip() if isinstance(value, str) else ""
    found = _PERIOD.match(text)
    if not found or not 1 <= int(found.group(2)) <= 12 or not 2000 <= int(found.group(1)) <= 2999:
        raise ValidationFailed(
            f"The period is a month written YYYY-MM (e.g. 2026-03), not {str(value)[:20]!r}.",
            code="bad_period",
            field=field,
        )
    return month_of(datetime(int(found.group(1)), int(found.group(2)), 1, tzinfo=UTC))


def months_between(first: Month, last: Month) -> list[Month]:
    out = [first]
    while out[-1] < last:
        out.append(out[-1].next())
    return out


# --- the ledger, valued ---------------------------------------------------------------------------------------


@dataclass
class _Bucket:
    """One customer's movements in one month: exact currency per flow, and credits (paid and free)."""

    money: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(FLOWS, ZERO))
    paid: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(FLOWS, ZERO))
    free: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(FLOWS, ZERO))


# A rollover grant takes over credits voided on the grant they came from, at the same price: an adjustment (+),
# netting with that void (-), never a purchase.
ROLLED_IN = "rolled_in"


def _flow(entry_type: str, credits: Decimal) -> tuple[str, Decimal]:
    """(column, credits as a positive flow of that column; adjustments keep their sign)."""
    if entry_type == ROLLED_IN:
        return "adjustments", credits
    if entry_type == E.GRANT:
        return "purchased", credits
    if entry_type == E.DEBIT:
        return "recognized", -credits
    if entry_type == E.EXPIRY:
        return "breakage", -credits
    return "adjustments", credits  # VOID (negative), REVERSAL (signed)


def _rows(queryset, keys: tuple[str, ...], value: str):
    """(keys..., summed value) rows: summed by PostgreSQL (numerics, exact), or in Python on SQLite (which would
    add decimals in floating point)."""
    if connections[queryset.db].vendor == "sqlite":
        totals: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
        for row in queryset.values_list(*keys, value):
            totals[row[:-1]] += row[-1]
        return [(*k, v) for k, v in totals.items()]
    return [
        (*(row[k] for k in keys), row["total"]) for row in queryset.values(*keys).annotate(total=Sum(value)).order_by()
    ]


def _month_start(value: datetime) -> datetime:
    return month_of(value).start


def ledger_movements(
    *, until: datetime, customer_ids: Iterable[int] | None = None
) -> dict[int, dict[datetime, _Bucket]]:
    """customer id -> month start -> that month's movements, for every entry effective before `until`.
    Two grouped reads (grant/expiry/void entries; debit/reversal allocations), summed per price."""
    entries = LedgerEntry.objects.filter(
        effective_at__lt=until, grant__isnull=False, entry_type__in=(E.GRANT, E.EXPIRY, E.VOID)
    ).annotate(
        month=TruncMonth("effective_at", tzinfo=UTC),
        movement=Case(
            When(entry_type=E.GRANT, grant__kind=CreditGrant.Kind.ROLLOVER, then=Value(ROLLED_IN)),
            default=F("entry_type"),
            output_field=CharField(),
        ),
    )
    allocations = LedgerAllocation.objects.filter(
        entry__effective_at__lt=until, entry__entry_type__in=(E.DEBIT, E.REVERSAL)
    ).annotate(month=TruncMonth("entry__effective_at", tzinfo=UTC))
    if customer_ids is not None:
        ids = list(customer_ids)
        entries = entries.filter(wallet__customer_id__in=ids)
        allocations = allocations.filter(entry__wallet__customer_id__in=ids)
    rows = _rows(entries, ("wallet__customer_id", "movement", "month", "grant__price_per_credit"), "amount")
    rows += _rows(
        allocations, ("entry__wallet__customer_id", "entry__entry_type", "month", "grant__price_per_credit"), "amount"
    )
    result: dict[int, dict[datetime, _Bucket]] = defaultdict(dict)
    with localcontext() as ctx:
        ctx.prec = 90  # 30-digit credits x 30-digit prices, summed: exact
        for customer_id, entry_type, month, price, credits in rows:
            bucket = result[customer_id].setdefault(_month_start(month), _Bucket())
            column, value = _flow(entry_type, credits)
            if price:
                bucket.money[column] += value * price
                bucket.paid[column] += value
            else:
                bucket.free[column] += value
    return result


# --- roll-forward ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flows:
    opening: Decimal = ZERO
    purchased: Decimal = ZERO
    recognized: Decimal = ZERO
    breakage: Decimal = ZERO
    adjustments: Decimal = ZERO
    closing: Decimal = ZERO

    def as_dict(self) -> dict[str, Decimal]:
        return {c: getattr(self, c) for c in COLUMNS}

    def __add__(self, other: Flows) -> Flows:
        return Flows(**{c: getattr(self, c) + getattr(other, c) for c in COLUMNS})

    @property
    def moved(self) -> bool:
        return any(getattr(self, c) for c in COLUMNS)


@dataclass(frozen=True)
class Credits:
    """Credits (not currency) that moved in the period: paid and free, per flow."""

    paid_granted: Decimal = ZERO
    paid_used: Decimal = ZERO
    paid_expired: Decimal = ZERO
    free_granted: Decimal = ZERO
    free_used: Decimal = ZERO
    free_expired: Decimal = ZERO

    def __add__(self, other: Credits) -> Credits:
        return Credits(**{k: getattr(self, k) + getattr(other, k) for k in self.__dataclass_fields__})

    @property
    def moved(self) -> bool:
        return any(getattr(self, k) for k in self.__dataclass_fields__)


@dataclass(frozen=True)
class RollForwardRow:
    """One customer's (or, with customer_id None, the total's) roll-forward: cents, plus the exact values."""

    customer_id: int | None
    external_id: str
    name: str
    currency: str
    cents: Flows  # rounded cells: closing == opening + purchased - recognized - breakage + adjustments
    exact: Flows
    credits: Credits

    @property
    def opening(self) -> Decimal:
        return self.cents.opening

    @property
    def purchased(self) -> Decimal:
        return self.cents.purchased

    @property
    def recognized(self) -> Decimal:
        return self.cents.recognized

    @property
    def breakage(self) -> Decimal:
        return self.cents.breakage

    @property
    def adjustments(self) -> Decimal:
        return self.cents.adjustments

    @property
    def closing(self) -> Decimal:
        return self.cents.closing

    def as_json(self) -> dict[str, str]:
        return {c: f"{getattr(self.cents, c):.2f}" for c in COLUMNS}


@dataclass(frozen=True)
class RollForward:
    period: Month
    rows: list[RollForwardRow]  # customers with a deferred balance or a movement, by name
    totals: list[RollForwardRow]  # one per currency

    @property
    def total(self) -> RollForwardRow:
        """The total (several currencies: the one most customers use; see `totals`)."""
        return self.totals[0]

    @property
    def currencies(self) -> list[str]:
        return [t.currency for t in self.totals]


def _cumulative(buckets: dict[datetime, _Bucket], before: datetime) -> dict[str, Decimal]:
    totals = dict.fromkeys(FLOWS, ZERO)
    for month, bucket in buckets.items():
        if month < before:
            for c in FLOWS:
                totals[c] += bucket.money[c]
    return totals


def _balance(cumulative: dict[str, Decimal]) -> Decimal:
    return sum((SIGN[c] * cumulative[c] for c in FLOWS), ZERO)


def _flows(buckets: dict[datetime, _Bucket], period: Month) -> tuple[Flows, Flows]:
    """(rounded, exact) roll-forward of one customer for a month."""
    with localcontext() as ctx:
        ctx.prec = 90
        at_start = _cumulative(buckets, period.start)
        at_end = _cumulative(buckets, period.end)
        exact = Flows(
            opening=_balance(at_start),
            closing=_balance(at_end),
            **{c: at_end[c] - at_start[c] for c in FLOWS},
        )
        start_r = {c: round_money(v) for c, v in at_start.items()}
        end_r = {c: round_money(v) for c, v in at_end.items()}
        cents = Flows(
            opening=_balance(start_r),
            closing=_balance(end_r),
            **{c: end_r[c] - start_r[c] for c in FLOWS},
        )
    return cents, exact


def _credits(buckets: dict[datetime, _Bucket], period: Month) -> Credits:
    bucket = buckets.get(period.start)
    if bucket is None:
        return Credits()
    return Credits(
        paid_granted=bucket.paid["purchased"],
        paid_used=bucket.paid["recognized"],
        paid_expired=bucket.paid["breakage"],
        free_granted=bucket.free["purchased"],
        free_used=bucket.free["recognized"],
        free_expired=bucket.free["breakage"],
    )


def _currencies(customer_ids: list[int], at: datetime) -> dict[int, str]:
    """The contract currency: of the contract in force at `at`, else the latest one begun before, else the first."""
    result = {}
    for customer_id, contracts in contracts_for_customers(customer_ids=customer_ids).items():
        begun = [c for c in contracts if c.starts_at < at]
        chosen = begun[-1] if begun else (contracts[0] if contracts else None)
        result[customer_id] = chosen.currency if chosen else DEFAULT_CURRENCY
    return result


def _totals(rows: list[RollForwardRow]) -> list[RollForwardRow]:
    by_currency: dict[str, list[RollForwardRow]] = defaultdict(list)
    for row in rows:
        by_currency[row.currency].append(row)
    if not by_currency:
        by_currency[DEFAULT_CURRENCY] = []
    ordered = sorted(by_currency.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    totals = []
    for currency, members in ordered:
        totals.append(
            RollForwardRow(
                customer_id=None,
                external_id="",
                name="Total" if len(ordered) == 1 else f"Total {currency}",
                currency=currency,
                cents=sum((r.cents for r in members), Flows()),
                exact=sum((r.exact for r in members), Flows()),
                credits=sum((r.credits for r in members), Credits()),
            )
        )
    return totals


def rollforward(*, period: Month, customer_ids: Iterable[int] | None = None) -> RollForward:
    """The month's roll-forward per customer (those with a deferred balance or any movement, paid or free) and in
    total per currency."""
    movements = ledger_movements(until=period.end, customer_ids=customer_ids)
    built: list[tuple[int, Flows, Flows, Credits]] = []
    for customer_id, buckets in movements.items():
        cents, exact = _flows(buckets, period)
        credits = _credits(buckets, period)
        if exact.moved or credits.moved:
            built.append((customer_id, cents, exact, credits))
    ids = [b[0] for b in built]
    names = customer_names(customer_ids=ids)
    currencies = _currencies(ids, period.end)
    rows = [
        RollForwardRow(
            customer_id=customer_id,
            external_id=names.get(customer_id, ("", ""))[0],
            name=names.get(customer_id, ("", f"customer #{customer_id}"))[1],
            currency=currencies.get(customer_id, DEFAULT_CURRENCY),
            cents=cents,
            exact=exact,
            credits=credits,
        )
        for customer_id, cents, exact, credits in built
    ]
    rows.sort(key=lambda r: (r.name.lower(), r.external_id))
    return RollForward(period=period, rows=rows, totals=_totals(rows))


@dataclass(frozen=True)
class MonthTotal:
    """One month of the waterfall: the total roll-forward in one currency."""

    month: Month
    currency: str
    cents: Flows


def rollforward_months(*, first: Month, last: Month, currency: str | None = None) -> list[MonthTotal]:
    """The total roll-forward of each month from `first` to `last` (one read of the ledger), in `currency` (default:
    the one most customers use). Each month's opening is the previous month's closing."""
    months = months_between(first, last)
    movements = ledger_movements(until=last.end)
    currencies = _currencies(list(movements), last.end)
    if currency is None:
        counts: dict[str, int] = defaultdict(int)
        for c in currencies.values():
            counts[c] += 1
        currency = min(counts, key=lambda c: (-counts[c], c)) if counts else DEFAULT_CURRENCY
    out = []
    for month in months:
        total = Flows()
        for customer_id, buckets in movements.items():
            if currencies.get(customer_id, DEFAULT_CURRENCY) == currency:
                total = total + _flows(buckets, month)[0]
        out.append(MonthTotal(month=month, currency=currency, cents=total))
    return out


def first_month(*, default: Month) -> Month:
    """The month of the ledger's first movement of a grant (for pickers), else `default`."""
    first = (
        LedgerEntry.objects.filter(entry_type=E.GRANT).order_by("effective_at").values_list("effective_at", flat=True)
    )
    at = first.first()
    return month_of(at) if at is not None else default


def rollforward_json(report: RollForward) -> dict:
    """The JSON shape of `manage.py revenue_rollforward --json` (amounts as strings with two decimals)."""
    return {
        "period": report.period.label,
        "customers": {
            (row.external_id or str(row.customer_id)): {"name": row.name, "currency": row.currency, **row.as_json()}
            for row in report.rows
        },
        "total": {"currency": report.total.currency, **report.total.as_json()},
        "totals_by_currency": [{"currency": t.currency, **t.as_json()} for t in report.totals],
    }
