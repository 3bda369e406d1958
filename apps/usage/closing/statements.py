"""What a customer's invoice-ready statement for a calendar month is, in one place.

A period is a calendar month, UTC (YYYY-MM), across all customers. A statement's lines:
- `base_fee`: the contract's base fee of each billing period that starts in the month (an anchor day other than
  the 1st bills its period in the month the period starts: apps.usage.statements.fees_starting_in);
- `usage`: one per meter over the month's days (apps.usage.statements.statement): quantity, included, from
  credits, overage, unit price, the credits it drew and the amount billed in currency (its overage);
- `credit_purchase`: each purchased grant effective in the month (purchases and automatic top-ups), at its price;
- `credits_applied`: credits drawn from the wallet in the month (paid and free), for information (amount 0);
- `adjustment`: late usage for a closed month (rated or re-rated after its close), per closed month and meter,
  referencing that month.
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
from apps.wallets.selectors import wallet_draws_by_day, wallet_grants
from apps.wallets.services import TOPUP_REASON

from .. import statements as base
from ..selectors import MeterUsage, usage_by_meter

PURCHASED_KIND = "purchased"
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
    ADJUSTMENT: "Adjustment (late usage)",
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


def usage_by_meter_in_month(*, customer_id: int, month: date) -> dict[str, dict[str, Decimal]]:
    """Per meter code, the usage line's figures for the month as rated now."""
    return {
        m.meter: usage_figures(m)
        for m in usage_by_meter(customer_id=customer_id, start=month, end=month_last_day(month))
    }


def _currency(contracts: list, month: date, fallback: str) -> str:
    """The currency of the latest contract in force during the month (else the usage's)."""
    lo, hi = month_bounds(month)
    terms = sorted(
        (t for t in contracts if t.starts_at < hi and (t.ends_at is None or t.ends_at > lo)), key=lambda t: t.starts_at
    )
    return terms[-1].currency if terms else fallback


def build_statement(
    *,
    customer,
    month: date,
    adjustments: list[tuple[date, str, dict[str, Decimal]]] | None = None,
    contracts: list | None = None,
) -> PeriodStatement:
    """The customer's statement for `month` as things stand now. `adjustments`: (closed month, meter, figure
    differences) of late usage to carry (see closing.selectors.late_adjustments); `contracts`: the customer's
    ContractTerms when the caller loaded them for many customers at once."""
    first, last = month, month_last_day(month)
    lo, hi = month_bounds(month)
    ext = customer.external_id
    if contracts is None:
        contracts = contracts_for_customers(customer_ids=[customer.pk]).get(customer.pk, [])
    st = base.statement(customer=customer, start=first, end=last)
    currency = _currency(contracts, month, next((ln.usage.currency for ln in st.lines if ln.usage.currency), ""))
    lines: list[Line] = []
    for fee in base.fees_starting_in(contracts=contracts, start=first, end=last):
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
    purchases = [
        g
        for g in wallet_grants(customer_id=customer.pk, include_closed=True)
        if g.kind == PURCHASED_KIND and g.status != "voided" and lo <= g.effective_at < hi
    ]
    for g in sorted(purchases, key=lambda g: (g.effective_at, g.id)):
        top_up = g.reason_code == TOPUP_REASON
        lines.append(
            Line(
                line_id=_id(month, ext, CREDIT_PURCHASE, f"grant-{g.id}"),
                kind=CREDIT_PURCHASE,
                description=("Automatic top-up" if top_up else "Credits purchased") + f" on {g.effective_at:%b %-d}",
                quantity=g.amount,
                unit_price=g.price_per_credit,
                credits=g.amount,
                amount=round_money(g.amount * g.price_per_credit),
                currency=currency,
                reference=g.reference,
            )
        )
    draws = wallet_draws_by_day(customer_id=customer.pk, start=lo, end=hi).values()
    paid = sum((d.paid_credits for d in draws), ZERO)
    free = sum((d.free_credits for d in draws), ZERO)
    if paid or free:
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
    for closed_month, meter, diff in adjustments or []:
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
    return PeriodStatement(month, customer.pk, ext, customer.name, currency, lines)
