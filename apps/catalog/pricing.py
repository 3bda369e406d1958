"""The one pricing function. Pure: no ORM, Decimal only, exact.

Positions are cumulative within a billing period. `price_quantity(rate, q, prior)` prices the units
at positions [prior, prior + q). Free units take the first positions of the period; tiers apply to
the billable positions after them. Every model telescopes, so splitting a quantity across calls
with the prior quantity carried gives exactly the same total:

    price(q1 + q2, prior) == price(q1, prior) + price(q2, prior + q1)

- per_unit:  billable * unit_price / price_per_units
- graduated: each unit is priced by the tier its position falls in; a tier's flat fee is charged
             by the call whose units first enter that tier.
- volume:    the whole cumulative billable quantity is priced at the tier it reaches; a call is
             charged total(after) - total(before). Crossing into a cheaper tier can make that
             delta negative (a true-up credit for the earlier units).
- package:   price per started package of price_per_units units: ceil(cum / size) * unit_price,
             charged as total(after) - total(before).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal, localcontext

ZERO = Decimal(0)
PRECISION = 60

PER_UNIT = "per_unit"
GRADUATED = "graduated"
VOLUME = "volume"
PACKAGE = "package"
PRICING_MODELS = (PER_UNIT, GRADUATED, VOLUME, PACKAGE)
TIERED_MODELS = (GRADUATED, VOLUME)

CREDITS = "credits"  # the pricing unit of a rate table that prices in credits rather than a currency


def priced_in_credits(pricing_unit: str | None) -> bool:
    """Whether a rate table's pricing unit is credits (case-insensitive). The one home of this test."""
    return (pricing_unit or "").strip().lower() == CREDITS


class PricingError(ValueError):
    """A rate that cannot price (bad tiers, negative quantity...)."""


@dataclass(frozen=True)
class TierSpec:
    up_to: Decimal | None  # inclusive upper bound of billable cumulative quantity; None = no bound
    unit_price: Decimal  # per price_per_units
    flat_fee: Decimal = ZERO


@dataclass(frozen=True)
class RateSpec:
    pricing_model: str
    unit_price: Decimal = ZERO  # per price_per_units (per_unit, package)
    price_per_units: Decimal = Decimal(1)
    free_units: Decimal = ZERO
    tiers: tuple[TierSpec, ...] = ()
    meter_id: int | None = None


@dataclass(frozen=True)
class PriceLine:
    tier_index: int | None  # None for per_unit/package; 0-based tier otherwise
    quantity: Decimal
    unit_price: Decimal  # per price_per_units
    amount: Decimal


@dataclass(frozen=True)
class PriceResult:
    amount: Decimal
    free_quantity: Decimal
    billable_quantity: Decimal
    lines: tuple[PriceLine, ...] = field(default_factory=tuple)

    @property
    def last_tier_index(self) -> int | None:
        return self.lines[-1].tier_index if self.lines else None


def validate_tiers(tiers: tuple[TierSpec, ...] | list[TierSpec]) -> None:
    """Tiers ordered by strictly increasing bound; only the last may be open; none negative."""
    if not tiers:
        raise PricingError("A tiered rate needs at least one tier.")
    previous = ZERO
    for index, tier in enumerate(tiers):
        if tier.unit_price < 0 or tier.flat_fee < 0:
            raise PricingError(f"Tier {index + 1}: prices cannot be negative.")
        if tier.up_to is None:
            if index != len(tiers) - 1:
                raise PricingError(f"Tier {index + 1}: only the last tier can be open-ended.")
            continue
        if tier.up_to <= previous:
            raise PricingError(f"Tier {index + 1}: bound {tier.up_to} must be above the previous bound {previous}.")
        previous = tier.up_to
    if tiers[-1].up_to is not None:
        raise PricingError("The last tier must be open-ended (no upper bound).")


def validate_rate(rate: RateSpec) -> None:
    if rate.pricing_model not in PRICING_MODELS:
        raise PricingError(f"Unknown pricing model {rate.pricing_model!r}.")
    if rate.price_per_units <= 0:
        raise PricingError("Price per units must be above zero.")
    if rate.unit_price < 0 or rate.free_units < 0:
        raise PricingError("Prices and free units cannot be negative.")
    if rate.pricing_model in TIERED_MODELS:
        validate_tiers(rate.tiers)


def _tier_bounds(tiers: tuple[TierSpec, ...]) -> Iterator[tuple[int, TierSpec, Decimal, Decimal | None]]:
    lower = ZERO
    for index, tier in enumerate(tiers):
        yield index, tier, lower, tier.up_to
        if tier.up_to is not None:
            lower = tier.up_to


def _volume_total(rate: RateSpec, cumulative: Decimal) -> tuple[Decimal, int | None, TierSpec | None]:
    if cumulative <= 0:
        return ZERO, None, None
    for index, tier, _lower, upper in _tier_bounds(rate.tiers):
        if upper is None or cumulative <= upper:
            return cumulative * tier.unit_price / rate.price_per_units + tier.flat_fee, index, tier
    raise PricingError("No tier covers the quantity.")  # unreachable with validated tiers


def _package_total(rate: RateSpec, cumulative: Decimal) -> Decimal:
    if cumulative <= 0:
        return ZERO
    packages = (cumulative / rate.price_per_units).to_integral_value(rounding=ROUND_CEILING)
    return packages * rate.unit_price


def price_quantity(rate: RateSpec, quantity: Decimal, prior_quantity: Decimal = ZERO) -> PriceResult:
    """Price `quantity` units following `prior_quantity` units already used in the period."""
    if quantity < 0 or prior_quantity < 0:
        raise PricingError("Quantities cannot be negative.")
    validate_rate(rate)
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return price_validated(rate, quantity, prior_quantity)


def price_validated(rate: RateSpec, quantity: Decimal, prior_quantity: Decimal) -> PriceResult:
    """`price_quantity`'s arithmetic, for callers that price many quantities under one rate: the rate is already
    validated, the quantities are not negative, and the caller's decimal context has precision PRECISION."""
    end = prior_quantity + quantity
    free_units = rate.free_units
    free_before = min(prior_quantity, free_units)
    free_after = min(end, free_units)
    free_quantity = free_after - free_before
    billable_prior = prior_quantity - free_before
    billable_end = end - free_after
    billable = billable_end - billable_prior
    lines: list[PriceLine] = []
    model = rate.pricing_model
    if model == PER_UNIT:
        amount = billable * rate.unit_price / rate.price_per_units
        if billable:
            lines.append(PriceLine(None, billable, rate.unit_price, amount))
    elif model == GRADUATED:
        amount = ZERO
        for index, tier, lower, upper in _tier_bounds(rate.tiers):
            top = billable_end if upper is None else min(billable_end, upper)
            bottom = max(billable_prior, lower)
            if top <= bottom:
                continue
            in_tier = top - bottom
            tier_amount = in_tier * tier.unit_price / rate.price_per_units
            if billable_prior <= lower:  # this call enters the tier
                tier_amount += tier.flat_fee
            amount += tier_amount
            lines.append(PriceLine(index, in_tier, tier.unit_price, tier_amount))
    elif model == VOLUME:
        before, _, _ = _volume_total(rate, billable_prior)
        after, volume_index, volume_tier = _volume_total(rate, billable_end)
        amount = after - before
        if billable and volume_tier is not None:
            lines.append(PriceLine(volume_index, billable, volume_tier.unit_price, amount))
    else:  # PACKAGE
        amount = _package_total(rate, billable_end) - _package_total(rate, billable_prior)
        if billable:
            lines.append(PriceLine(None, billable, rate.unit_price, amount))
    return PriceResult(amount=amount, free_quantity=free_quantity, billable_quantity=billable, lines=tuple(lines))


def list_unit_price(rate: RateSpec) -> Decimal:
    """The headline price of one unit: the per-unit price, or the first tier's. Used for margins."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        if rate.pricing_model in TIERED_MODELS and rate.tiers:
            return rate.tiers[0].unit_price / rate.price_per_units
        return rate.unit_price / rate.price_per_units
