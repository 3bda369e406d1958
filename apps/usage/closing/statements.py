"""What a customer's invoice-ready statement for a calendar month is, in one place.

A period is a calendar month, UTC (YYYY-MM), across all customers. A statement's lines:
- `base_fee`: the contract's base fee of each billing period that starts in the month (an anchor day other than
  the 1st bills its period in the month the period starts: apps.usage.statements.fees_starting_in);
- `usage`: one per meter over the month's days (apps.usage.statements.statement): quantity, included, from
  credits, overage, unit price, the credits it drew and the amount billed in currency (its overage);
- `credit_purchase`: each purchased grant effective in the month (purchases and automatic top-ups), at its price;
- `credits_applied`: credits drawn from the wallet in the month (paid and free), for information (amount 0);
- `adjustment`: what reached a closed month after its close, referencing that month: late usage (rated or re-rated
  after the close), per closed month and meter; and purchases (or automatic top-ups) dated in the closed month
  but recorded after its close, one per purchase, at its price.
Every amount is rounded once, per line, half up to cents (apps.core.money.round_money); the amount due is the sum
of the lines' amounts. The content hash covers every line, so a frozen statement can be checked against it.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal

from apps.contracts.selectors import contracts_for_customers
from apps.core.errors import ValidationFailed
from apps.core.money import ZERO, decimal_str, round_money
from apps.wallets.selectors import GrantView, purchases_of, wallet_draws_of
from apps.wallets.services import TOPUP_REASON

from .. import statements as base
from ..selectors import MeterUsage, usage_by_meter_of

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")

# Line kinds, in the order they appear on a statement.
BASE_FEE = "base_fee"
USAGE = "usage"
CREDIT_PURCHASE = "credit_purchase"
CREDITS_APPLIED = "credits_applied"
ADJUSTMENT = "adjustment"
KINDS = (BASE_FEE, USAGE, CREDIT_PURCHASE, CREDITS_APPLIED, ADJUSTMENT)
KIND_LABELS = {
    BASE_FEE: "Base fee",
    USAGE: "Usage",
    CREDIT_PURCHASE: "Credits purchased",
    CREDITS_APPLIED: "Credits applied",
    ADJUSTMENT: "Adjustment (after a close)",
}
# The per-meter figures an adjustment carries (differences of the usage line's figures).
USAGE_FIGURES = ("quantity", "included", "from_credits", "overage", "credits", "amount")


# --- months ----------------------------------------------------------------------------------------------------


def parse_month(value: str) -> date:
    """'2026-10' -> date(2026, 10, 1); anything else is refused (code invalid_period)."""
    match = MONTH_RE.match(value or "")
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise ValidationFailed("A period is a month, YYYY-MM (e.g. 2026-10).", code="invalid_period", field="period")
    return date(int(match.group(1)), int(match.group(2)), 1)


def month_label(month: date) -> str:
    return f"{month:%Y-%m}"


def month_last_day(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    return date(month.year - 1, 12, 1) if month.month == 1 else date(month.year, month.month - 1, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month), UTC."""
    following = next_month(month)
    return datetime(month.year, month.month, 1, tzinfo=UTC), datetime(following.year, following.month, 1, tzinfo=UTC)


# --- lines and statements ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    line_id: str  # stable: period, customer, kind and what the line is about
    kind: str
    description: str
    amount: Decimal  # in the statement's currency, rounded once (half up, cents)
    currency: str
    meter: str = ""
    quantity: Decimal | None = None
    included: Decimal | None = None
    from_credits: Decimal | None = None
    overage: Decimal | None = None
    unit_price: Decimal | None = None
    credits: Decimal | None = None
    reference: str = ""  # a closed period (adjustments), an order or ticket (purchases)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def canonical(self) -> dict:
        """Plain strings (decimals without trailing zeros): the same before and after storage."""
        return {
            "line_id": self.line_id,
            "kind": self.kind,
            "description": self.description,
            "meter": self.meter,
            "quantity": decimal_str(self.quantity),
            "included": decimal_str(self.included),
            "from_credits": decimal_str(self.from_credits),
            "overage": decimal_str(self.overage),
            "unit_price": decimal_str(self.unit_price),
            "credits": decimal_str(self.credits),
            "amount": decimal_str(self.amount),
            "currency": self.currency,
            "reference": self.reference,
        }


# The fields a line has, stored as they are when a period closes (FrozenLine has the same columns).
LINE_FIELDS = tuple(f.name for f in fields(Line))


@dataclass(frozen=True)
class PeriodStatement:
    month: date
    customer_id: int
    customer_external_id: str
    customer_name: str
    currency: str
    lines: list[Line] = field(default_factory=list)

    @property
    def period(self) -> str:
        return month_label(self.month)

    @property
    def amount_due(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    def total(self, kind: str) -> Decimal:
        return sum((line.amount for line in self.lines if line.kind == kind), ZERO)

    def lines_of(self, kind: str) -> list[Line]:
        return [line for line in self.lines if line.kind == kind]

    @property
    def content_hash(self) -> str:
        return statement_hash(self)


def statement_hash(st: PeriodStatement) -> str:
    payload = {
        "period": st.period,
        "customer": st.customer_external_id,
        "customer_name": st.customer_name,
        "currency": st.currency,
        "amount_due": decimal_str(st.amount_due),
        "lines": [line.canonical() for line in st.lines],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def period_hash(statements: list[PeriodStatement]) -> str:
    """One hash for a closed month: over each statement's customer and hash, in customer order."""
    text = "\n".join(f"{s.customer_external_id}:{s.content_hash}" for s in statements)
    return hashlib.sha256(text.encode()).hexdigest()


def _id(month: date, customer_external_id: str, kind: str, key: str = "") -> str:
    return ":".join(p for p in (month_label(month), customer_external_id, kind, key) if p)


def usage_figures(m: MeterUsage) -> dict[str, Decimal]:
    """A usage line's figures from a meter's totals over the month (amounts rounded once, here)."""
    return {
        "quantity": m.quantity,
        "included": m.included_quantity,
        "from_credits": m.credit_quantity,
        "overage": m.overage_quantity,
        "credits": round_money(m.credits),
        "amount": round_money(m.overage_amount),
    }


def usage_by_meter_in_month(*, customer_ids: list[int], month: date) -> dict[int, dict[str, dict[str, Decimal]]]:
    """Per customer, per meter code: the usage line's figures for the month as rated now (one set of queries)."""
    usage = usage_by_meter_of(customer_ids=customer_ids, start=month, end=month_last_day(month))
    return {c: {m.meter: usage_figures(m) for m in meters} for c, meters in usage.items()}


def grant_key(grant: GrantView) -> str:
    """What a purchase's line ids end with (`2026-10:acme:credit_purchase:grant-17`)."""
    return f"grant-{grant.id}"


def _purchase_figures(grant: GrantView) -> dict:
    return {
        "quantity": grant.amount,
        "unit_price": grant.price_per_credit,
        "credits": grant.amount,
        "amount": round_money(grant.amount * grant.price_per_credit),
    }


def _purchase_label(grant: GrantView) -> str:
    return "Automatic top-up" if grant.reason_code == TOPUP_REASON else "Credits purchased"


def _currency(contracts: list, month: date, fallback: str) -> str:
    """The currency of the latest contract in force during the month (else the usage's)."""
    lo, hi = month_bounds(month)
    terms = sorted(
        (t for t in contracts if t.starts_at < hi and (t.ends_at is None or t.ends_at > lo)), key=lambda t: t.starts_at
    )
    return terms[-1].currency if terms else fallback


Adjustments = list[tuple[date, str, dict[str, Decimal]]]  # (closed month, meter, figure differences)
LatePurchases = list[tuple[date, GrantView]]  # (closed month, the purchase)
FEE_ADJUSTMENT = "base-fee"  # what a base-fee adjustment's line id ends with (`...:adjustment:2026-10:base-fee`)


@dataclass(frozen=True)
class LateFee:
    """A closed month's base fees as the contracts stand now, against what closed statements carry for it."""

    month: date
    now: Decimal
    carried: Decimal
    currency: str


LateFees = list[LateFee]


def build_statement(
    *,
    customer,
    month: date,
    adjustments: Adjustments | None = None,
    late_purchases: LatePurchases | None = None,
    late_fees: LateFees | None = None,
    contracts: list | None = None,
) -> PeriodStatement:
    """The customer's statement for `month` as things stand now (`build_statements` for one customer)."""
    return build_statements(
        customers=[customer],
        month=month,
        adjustments={customer.pk: adjustments or []},
        late_purchases={customer.pk: late_purchases or []},
        late_fees={customer.pk: late_fees or []},
        contracts=None if contracts is None else {customer.pk: contracts},
    )[customer.pk]


def build_statements(
    *,
    customers,
    month: date,
    adjustments: dict[int, Adjustments] | None = None,
    late_purchases: dict[int, LatePurchases] | None = None,
    late_fees: dict[int, LateFees] | None = None,
    contracts: dict[int, list] | None = None,
) -> dict[int, PeriodStatement]:
    """The customers' statements for `month` as things stand now, in one set of queries whatever their number:
    customer id -> PeriodStatement (maybe without lines). Per customer, `adjustments`: late usage for closed
    months to carry (see closing.selectors.late_adjustments); `late_purchases`: purchases dated in a closed month
    and recorded after its close (closing.selectors.late_purchases); `late_fees`: base fees of billing periods
    starting in a closed month that no closed statement carries (closing.selectors.late_fees); `contracts`: their
    ContractTerms when the caller loaded them."""
    customers = list(customers)
    ids = [c.pk for c in customers]
    first, last = month, month_last_day(month)
    lo, hi = month_bounds(month)
    if contracts is None:
        contracts = contracts_for_customers(customer_ids=ids)
    base_statements = base.statements(customers=customers, start=first, end=last, contracts=contracts)
    purchases = purchases_of(customer_ids=ids, start=lo, end=hi)
    draws = wallet_draws_of(customer_ids=ids, start=lo, end=hi)
    result = {}
    for customer in customers:
        terms = contracts.get(customer.pk, [])
        st = base_statements[customer.pk]
        ext = customer.external_id
        currency = _currency(terms, month, next((ln.usage.currency for ln in st.lines if ln.usage.currency), ""))
        lines: list[Line] = []
        for fee in base.fees_starting_in(contracts=terms, start=first, end=last):
            lines.append(
                Line(
                    line_id=_id(month, ext, BASE_FEE, fee.period_start.isoformat()),
                    kind=BASE_FEE,
                    description=f"Base fee, billing period {fee.period_start:%b %-d} – {fee.period_end:%b %-d, %Y}",
                    amount=fee.base_fee,
                    currency=fee.currency,
                )
            )
        for sl in st.lines:
            figures = usage_figures(sl.usage)
            priced_in = f" (priced in {sl.pricing_unit})" if sl.pricing_unit and sl.pricing_unit != currency else ""
            lines.append(
                Line(
                    line_id=_id(month, ext, USAGE, sl.usage.meter),
                    kind=USAGE,
                    description=f"{sl.usage.name or sl.usage.meter}{priced_in}",
                    meter=sl.usage.meter,
                    unit_price=sl.per_unit_price,
                    currency=sl.usage.currency or currency,
                    **figures,
                )
            )
        for g in purchases.get(customer.pk, []):
            lines.append(
                Line(
                    line_id=_id(month, ext, CREDIT_PURCHASE, grant_key(g)),
                    kind=CREDIT_PURCHASE,
                    description=f"{_purchase_label(g)} on {g.effective_at:%b %-d}",
                    currency=currency,
                    reference=g.reference,
                    **_purchase_figures(g),
                )
            )
        drawn = draws.get(customer.pk)
        if drawn is not None and (drawn.paid_credits or drawn.free_credits):
            paid, free = drawn.paid_credits, drawn.free_credits
            lines.append(
                Line(
                    line_id=_id(month, ext, CREDITS_APPLIED),
                    kind=CREDITS_APPLIED,
                    description=f"Credits applied to usage: {round_money(paid)} paid, {round_money(free)} free "
                    "(already paid for; not billed again)",
                    credits=round_money(paid + free),
                    amount=ZERO.quantize(Decimal("0.01")),
                    currency=currency,
                )
            )
        for closed_month, meter, diff in (adjustments or {}).get(customer.pk, []):
            ref = month_label(closed_month)
            lines.append(
                Line(
                    line_id=_id(month, ext, ADJUSTMENT, f"{ref}:{meter}"),
                    kind=ADJUSTMENT,
                    description=f"Late usage for {closed_month:%B %Y} (closed period {ref})",
                    meter=meter,
                    currency=currency,
                    reference=ref,
                    **diff,
                )
            )
        for closed_month, g in (late_purchases or {}).get(customer.pk, []):
            ref = month_label(closed_month)
            order = f" ({g.reference})" if g.reference else ""
            lines.append(
                Line(
                    line_id=_id(month, ext, ADJUSTMENT, f"{ref}:{grant_key(g)}"),
                    kind=ADJUSTMENT,
                    description=f"{_purchase_label(g)} dated {g.effective_at:%Y-%m-%d}, after {closed_month:%B %Y} "
                    f"was closed{order}",
                    currency=currency,
                    reference=ref,
                    **_purchase_figures(g),
                )
            )
        for fee in (late_fees or {}).get(customer.pk, []):
            ref = month_label(fee.month)
            what = (
                f"Base fee for {fee.month:%B %Y}, recorded after it was closed"
                if fee.carried == 0
                else f"Base fee for {fee.month:%B %Y} changed after it was closed: {decimal_str(fee.now)} now, "
                f"{decimal_str(fee.carried)} billed"
            )
            lines.append(
                Line(
                    line_id=_id(month, ext, ADJUSTMENT, f"{ref}:{FEE_ADJUSTMENT}"),
                    kind=ADJUSTMENT,
                    description=what,
                    amount=fee.now - fee.carried,
                    currency=fee.currency or currency,
                    reference=ref,
                )
            )
        result[customer.pk] = PeriodStatement(month, customer.pk, ext, customer.name, currency, lines)
    return result
