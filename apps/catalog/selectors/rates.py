"""Catalog reads: the rate rows and price points of a version."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch
from django.utils import timezone

from apps.core.money import decimal_str, margin_percent

from ..cohorts import Cohort
from ..models import (
    Meter,
    Rate,
    RateTableVersion,
    RateTier,
)
from ..pricing import TIERED_MODELS, RateSpec, TierSpec, list_unit_price
from .meters import meter_cost_in_force, meter_costs_in_force
from .versions import _rates_prefetch, _version_spec


@dataclass(frozen=True)
class PricePoint:
    """One price a unit can sell at (the per-unit price, a tier's, a full package's), checked against cost."""

    label: str  # "price", "tier 2 (up to 1000)", "package of 100"
    price_per_unit: Decimal
    margin_pct: Decimal | None
    below_cost: bool


@dataclass(frozen=True)
class RateRow:
    rate: Rate
    tiers: list[RateTier]
    list_price_per_unit: Decimal
    cost_per_unit: Decimal | None
    margin_pct: Decimal | None
    below_cost: bool
    points: tuple[PricePoint, ...] = ()

    @property
    def below_cost_points(self) -> list[PricePoint]:
        return [p for p in self.points if p.below_cost]

    @property
    def lowest_margin_pct(self) -> Decimal | None:
        """The worst margin over every price the rate can charge (a cheap later tier shows here)."""
        margins = [p.margin_pct for p in self.points if p.margin_pct is not None]
        return min(margins) if margins else self.margin_pct

    @property
    def margin_varies(self) -> bool:
        return self.lowest_margin_pct is not None and self.lowest_margin_pct != self.margin_pct

    @property
    def per(self) -> Decimal:
        """Display block: prices and costs are shown per this many units (e.g. per 1M tokens)."""
        return self.rate.price_per_units

    @property
    def list_price_per_block(self) -> Decimal:
        return self.list_price_per_unit * self.per

    @property
    def cost_per_block(self) -> Decimal | None:
        return None if self.cost_per_unit is None else self.cost_per_unit * self.per


def version_rate_rows(*, version_id: int, at: datetime | None = None) -> list[RateRow]:
    """The grid: one row per meter with current cost per unit and margin % at list price."""
    at = at or timezone.now()
    rates = list(
        Rate.objects.filter(version_id=version_id)
        .select_related("meter", "meter__product", "version__rate_table")
        .prefetch_related(Prefetch("tiers", queryset=RateTier.objects.order_by(*RateTier._meta.ordering)))
        .order_by("meter__product__name", "meter__code")
    )
    costs = meter_costs_in_force(meter_ids=[r.meter_id for r in rates], at=at)
    return [_rate_row(rate, costs.get(rate.meter_id)) for rate in rates]


def rate_row(*, rate_id: int, at: datetime | None = None) -> RateRow:
    rate = (
        Rate.objects.select_related("meter", "meter__product", "version__rate_table")
        .prefetch_related(Prefetch("tiers", queryset=RateTier.objects.order_by(*RateTier._meta.ordering)))
        .get(pk=rate_id)
    )
    return _rate_row(rate, meter_cost_in_force(meter_id=rate.meter_id, at=at or timezone.now()))


def _rate_row(rate: Rate, cost: Decimal | None) -> RateRow:
    """Cost is converted into the table's pricing unit (e.g. credits) so price, cost and margin compare."""
    if cost is not None:
        cost = cost / rate.version.rate_table.currency_per_unit
    tiers = list(rate.tiers.all())
    spec = RateSpec(
        rate.pricing_model,
        rate.unit_price,
        rate.price_per_units,
        rate.free_units,
        tuple(TierSpec(t.up_to, t.unit_price, t.flat_fee) for t in tiers),
    )
    price = list_unit_price(spec)
    margin = margin_percent(price, cost) if cost is not None else None
    points = tuple(_price_points(rate, tiers, cost))
    below = any(p.below_cost for p in points)
    return RateRow(rate, tiers, price, cost, margin, below, points)


def _price_points(rate: Rate, tiers: list[RateTier], cost: Decimal | None):
    """Every price a unit of this rate can be sold at: each tier (graduated and volume alike), the per-unit
    price, or a full package's price per unit. Free units are given away by design and are not a price
    point, but a rate whose only billable price is below cost is flagged whatever its free units."""
    per = rate.price_per_units

    def point(label: str, price_per_block: Decimal) -> PricePoint:
        price = price_per_block / per
        if cost is None:
            return PricePoint(label, price, None, False)
        return PricePoint(label, price, margin_percent(price, cost), price < cost)

    if rate.pricing_model in TIERED_MODELS and tiers:
        lower = Decimal(0)
        for index, tier in enumerate(tiers, start=1):
            bounds = f"{_plain(lower)}–{_plain(tier.up_to)}" if tier.up_to is not None else f"above {_plain(lower)}"
            yield point(f"tier {index} ({bounds})", tier.unit_price)
            if tier.up_to is not None:
                lower = tier.up_to
    elif rate.pricing_model == "package":
        yield point(f"package of {_plain(per)}", rate.unit_price)
    else:
        yield point("price", rate.unit_price)


def _plain(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def meters_not_in_version(*, version_id: int) -> list[Meter]:
    used = Rate.objects.filter(version_id=version_id).values("meter_id")
    return list(
        Meter.objects.filter(is_active=True)
        .exclude(id__in=used)
        .select_related("product")
        .order_by("product__name", "code")
    )


def version_rate_specs(*, version_id: int) -> dict[int, RateSpec]:
    """meter_id -> RateSpec for any version (drafts and pending ones included)."""
    version = RateTableVersion.objects.filter(pk=version_id).prefetch_related(_rates_prefetch()).first()
    return _version_spec(version).rates if version else {}


def version_rates_canonical(*, version_id: int) -> list[dict]:
    """A version's rates in a canonical form (by meter code; decimals normalised): what its content hash covers."""
    rates = []
    for rate in (
        Rate.objects.filter(version_id=version_id)
        .select_related("meter")
        .prefetch_related("tiers")
        .order_by("meter__code")
    ):
        rates.append(
            {
                "meter": rate.meter.code,
                "model": rate.pricing_model,
                "unit_price": decimal_str(rate.unit_price),
                "per": decimal_str(rate.price_per_units),
                "free": decimal_str(rate.free_units),
                "tiers": [
                    [decimal_str(t.up_to), decimal_str(t.unit_price), decimal_str(t.flat_fee)]
                    for t in sorted(rate.tiers.all(), key=lambda t: (t.up_to is None, t.up_to or 0))
                ],
            }
        )
    return rates


def version_cohort_canonical(version: RateTableVersion) -> dict | None:
    """The version's cohort in a canonical form, or None for the default (all contracts, no grandfathering date), so
    hashes of versions made before cohorts existed are unchanged."""
    if version.cohort == Cohort.ALL and version.grandfather_until is None:
        return None
    chosen = version.cohort == Cohort.CHOSEN
    return {
        "cohort": version.cohort,
        "customers": sorted(version.cohort_customers or ()) if chosen else [],
        "segments": sorted(version.cohort_segments or ()) if chosen else [],
        "grandfather_until": version.grandfather_until.isoformat() if version.grandfather_until else None,
    }


def version_pricing_hash(*, version_id: int) -> str:
    """SHA-256 over what prices usage in a version, without its effective instant: its rates and the cohort they
    apply to. A simulation is fresh while this is unchanged: it chooses its own range, so moving the effective date
    does not make it stale, while editing any price or the cohort does."""
    payload: dict = {"rates": version_rates_canonical(version_id=version_id)}
    version = RateTableVersion.objects.filter(pk=version_id).first()
    cohort = version_cohort_canonical(version) if version else None
    if cohort is not None:
        payload["cohort"] = cohort
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
