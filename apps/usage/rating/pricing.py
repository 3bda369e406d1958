"""Pure rating arithmetic (no ORM): price one event at its position in the period, convert to credits or
currency, and split a batch's wallet draw over the events that needed credits.

Order and position. Within one customer x meter x billing period, events are ordered by
(timestamp, event id as sent); that order is total per customer because ids are unique per customer. An
event's position is the cumulative billable quantity of the events before it in that order. Everything an
event's price depends on (the version in force at its timestamp, the contract's override and allowance, the
tier its position falls in) is a function of that position, so splitting the same events into one batch, k
batches or any arrival order gives the same figures for each event, and so the same Decimal totals.
A late event (one that sorts before events already rated) moves the position of the events after it; the
engine re-prices that suffix and supersedes the records whose figures changed (see engine.py).

The included allowance takes the first positions of the period. Units beyond it are priced by
apps.catalog.pricing.price_quantity at their position (its tiers and free units are over the period's
cumulative quantity too). An override either multiplies the list amount (follows list price) or replaces the
rate with a fixed per-unit price (keeping the list rate's free units).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, getcontext, localcontext, setcontext
from typing import TYPE_CHECKING, NamedTuple

from apps.catalog.pricing import PER_UNIT, PricingError, RateSpec, price_quantity, price_validated, validate_rate
from apps.core.money import RATED_PLACES, ZERO, quantize_rated

if TYPE_CHECKING:
    from apps.contracts.selectors import OverrideTerms
    from apps.wallets.services import Allocation


class Priced(NamedTuple):
    """An event's price at its position (a tuple: built once per event, read by name)."""

    quantity: Decimal
    prior_quantity: Decimal
    included_quantity: Decimal
    chargeable_quantity: Decimal
    amount: Decimal  # in the rate table's pricing unit; can be negative for a volume true-up
    pricing_model: str
    unit_price: Decimal  # effective price per price_per_units of the last tier used
    price_per_units: Decimal
    tier: int | None  # 1-based
    lines: tuple[dict, ...]
    override_kind: str
    override_value: Decimal | None


def effective_rate(rate: RateSpec, override: OverrideTerms | None) -> tuple[RateSpec, Decimal, str, Decimal | None]:
    """The rate after a contract override, and the multiplier to apply to its amounts."""
    if override is None:
        return rate, Decimal(1), "", None
    if override.kind == "fixed":
        if override.unit_price is None:
            raise ValueError("a fixed price override needs a unit price")
        fixed = RateSpec(
            pricing_model=PER_UNIT,
            unit_price=override.unit_price,
            price_per_units=override.price_per_units or Decimal(1),
            free_units=rate.free_units,
            meter_id=rate.meter_id,
        )
        return fixed, Decimal(1), "fixed", override.unit_price
    multiplier = override.multiplier if override.multiplier is not None else Decimal(1)
    return rate, multiplier, "multiplier", multiplier


def _cumulative(spec: RateSpec, multiplier: Decimal, allowance: Decimal, position: Decimal) -> Decimal:
    """The price of the period's positions [allowance, position), rounded once to 12 places, half up (half up
    commutes with adding a 12-place amount, so the next event can start from it exactly)."""
    if position <= allowance:
        return ZERO
    return (price_quantity(spec, position - allowance, allowance).amount * multiplier).quantize(
        RATED_PLACES, rounding=ROUND_HALF_UP
    )


def price_position(
    *,
    rate: RateSpec,
    override: OverrideTerms | None,
    quantity: Decimal,
    prior: Decimal,
    allowance: Decimal,
    memo: dict[tuple, Decimal] | None = None,
) -> Priced:
    """Price `quantity` units at positions [prior, prior + quantity) of the period.

    The amount is the difference of the period's cumulative price (rounded to 12 places) at the event's end and
    start positions, so the amounts of consecutive events add up to the exact cumulative price rounded once
    (seven events of 0.5 units at 0.01 per 7 units sum to 0.005, not 0.004999999998), whatever the batches.
    `memo` (one per rating run) keeps the cumulative prices already computed (the next event starts where the
    last one ended); when the event's own price has at most 12 decimals, the cumulative price after it is the
    one before plus that price exactly, so no second pricing is needed. (A run of events under the same terms
    uses one RunPricer: the same arithmetic, the terms worked out once.)"""
    return RunPricer(rate=rate, override=override, allowance=allowance, memo=memo).price(quantity, prior)


class RunPricer:
    """`price_position` for a run of events under the same terms (rate, override, allowance): the effective rate,
    its validation, the memo key and the lines' unit prices are worked out once; each `price` call does only the
    event's own arithmetic, exactly price_position's."""

    __slots__ = (
        "_context",
        "_lines_price",
        "_unit_price",
        "allowance",
        "key",
        "kind",
        "memo",
        "multiplier",
        "no_line_price",
        "spec",
        "value",
    )

    def __init__(
        self,
        *,
        rate: RateSpec,
        override: OverrideTerms | None,
        allowance: Decimal,
        memo: dict[tuple, Decimal] | None = None,
    ):
        spec, multiplier, kind, value = effective_rate(rate, override)
        validate_rate(spec)
        self.spec, self.multiplier, self.kind, self.value = spec, multiplier, kind, value
        self.allowance = allowance
        self.memo = memo
        self.key = (id(rate), kind, value, spec.price_per_units, multiplier, allowance)
        with localcontext() as ctx:
            ctx.prec = 60
            first = spec.tiers[0].unit_price if spec.tiers else spec.unit_price
            self.no_line_price = quantize_rated(first * multiplier)
        self._lines_price: dict[Decimal, str] = {}
        self._unit_price: dict[Decimal, Decimal] = {}  # a line's unit price -> the record's (x multiplier, rated)
        # what `with localcontext() as ctx: ctx.prec = 60` gives (a copy of the caller's context at 60 digits),
        # made once: entering a fresh local context per event costs more than the event's own pricing arithmetic
        self._context = getcontext().copy()
        self._context.prec = 60

    def price(self, quantity: Decimal, prior: Decimal) -> Priced:
        """Price `quantity` units at positions [prior, prior + quantity) of the period."""
        spec, multiplier, allowance, memo = self.spec, self.multiplier, self.allowance, self.memo
        caller = getcontext()
        setcontext(self._context)
        try:
            included = min(max(allowance - prior, ZERO), quantity)
            chargeable = quantity - included
            start, end = prior + included, prior + quantity
            if chargeable < 0 or start < 0:
                raise PricingError("Quantities cannot be negative.")
            result = price_validated(spec, chargeable, start)
            increment = result.amount * multiplier
            exact = increment == quantize_rated(increment)
            before = memo.get(self.key + (start,)) if memo is not None else None
            if before is None:
                before = _cumulative(spec, multiplier, allowance, start)
            after = before + increment if exact else _cumulative(spec, multiplier, allowance, end)
            if memo is not None:
                if len(memo) > 100_000:
                    memo.clear()
                memo[self.key + (end,)] = after
            prices = self._lines_price
            lines = []
            for line in result.lines:
                unit_price = prices.get(line.unit_price)
                if unit_price is None:
                    unit_price = prices[line.unit_price] = str(quantize_rated(line.unit_price * multiplier))
                lines.append(
                    {
                        "tier": None if line.tier_index is None else line.tier_index + 1,
                        "quantity": str(line.quantity),
                        "unit_price": unit_price,
                        "amount": str(quantize_rated(line.amount * multiplier)),
                    }
                )
            last = result.lines[-1] if result.lines else None
            if last is None:
                unit = self.no_line_price
            else:
                known = self._unit_price.get(last.unit_price)
                if known is None:
                    known = self._unit_price[last.unit_price] = quantize_rated(last.unit_price * multiplier)
                unit = known
            return Priced(
                quantity,
                prior,
                included,
                chargeable,
                after - before,
                spec.pricing_model,
                unit,
                spec.price_per_units,
                None if last is None or last.tier_index is None else last.tier_index + 1,
                tuple(lines),
                self.kind,
                self.value,
            )
        finally:
            setcontext(caller)


def to_credits(amount: Decimal, *, priced_in_credits: bool, credit_price: Decimal) -> Decimal:
    """Credits a charge needs: the amount itself in a credits table, else amount / credit price."""
    if priced_in_credits:
        return amount
    if credit_price <= 0:
        return ZERO
    # quantize_rated(amount / credit_price) at 60 digits (as in a localcontext), without entering one per charge
    return _PRECISE.divide(amount, credit_price).quantize(RATED_PLACES, rounding=ROUND_HALF_EVEN, context=_PRECISE)


def to_currency(amount: Decimal, *, priced_in_credits: bool, credit_price: Decimal) -> Decimal:
    if priced_in_credits:
        return quantize_rated(amount * credit_price)
    return amount


def credits_to_currency(credits: Decimal, *, credit_price: Decimal) -> Decimal:
    return quantize_rated(credits * credit_price)


def overage_cap(*, wallet_backed: bool, enforcement: str, overdraft_limit: Decimal) -> Decimal | None:
    """How much overage a period may accrue beyond the wallet (None: no cap), in charge units
    (credits for prepaid/hybrid, currency for postpaid).

    - unlimited: no cap;
    - hard: nothing beyond the balance (prepaid, hybrid);
    - soft: up to the overdraft limit;
    - postpaid has no balance: everything is overage, capped only by a soft policy's overdraft limit when one
      is set (the period's spending limit).
    """
    if enforcement == "unlimited":
        return None
    if not wallet_backed:
        return overdraft_limit if overdraft_limit > 0 else None
    if enforcement == "hard":
        return ZERO
    return overdraft_limit


_RATED_ZERO = quantize_rated(ZERO)
_PRECISE = Context(prec=60)  # what localcontext() with prec = 60 gives, for one quantize


def proportion(part: Decimal, whole: Decimal, quantity: Decimal) -> Decimal:
    """quantity x part / whole, to 12 places. The two usual cases (all of it, none of it) skip the division: with
    figures below 10^18 at 12 places the product is exact at 60 digits, so the quotient is the quantity itself
    (or zero) and quantizing gives the same Decimal."""
    if whole == 0:
        return ZERO
    if quantity >= 0:
        if part == whole:
            return quantity.quantize(RATED_PLACES, rounding=ROUND_HALF_EVEN, context=_PRECISE)
        if part == 0 and whole > 0:
            return _RATED_ZERO
    with localcontext() as ctx:
        ctx.prec = 60
        return quantize_rated(quantity * part / whole)


@dataclass(frozen=True)
class GrantShare:
    grant_id: int
    credits: Decimal
    revenue: Decimal
    kind: str
    price_per_credit: Decimal

    def as_dict(self) -> dict:
        return {
            "grant_id": self.grant_id,
            "credits": str(self.credits),
            "revenue": str(self.revenue),
            "kind": self.kind,
            "price_per_credit": str(self.price_per_credit),
        }


def split_allocations(takes: list[Decimal], allocations: Iterable[Allocation]) -> list[list[GrantShare]]:
    """Attribute a debit's grant allocations (burn-down order) to the takes (positional order), first come
    first served. Revenue is split so that the shares of one allocation sum exactly to its revenue."""
    result: list[list[GrantShare]] = [[] for _ in takes]
    queue = list(allocations)
    credits_left = [a.amount for a in queue]
    revenue_left = [a.revenue for a in queue]
    position = 0
    for index, take in enumerate(takes):
        left = take
        while left > 0 and position < len(queue):
            alloc, alloc_left = queue[position], credits_left[position]
            part = min(left, alloc_left)
            if part == alloc_left:
                revenue = revenue_left[position]
            else:
                revenue = quantize_rated(part * alloc.price_per_credit)
            result[index].append(GrantShare(alloc.grant_id, part, revenue, alloc.kind, alloc.price_per_credit))
            left -= part
            credits_left[position] = alloc_left - part
            revenue_left[position] -= revenue
            if credits_left[position] == 0:
                position += 1
    return result
