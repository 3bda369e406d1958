"""Catalog reads: products, meters, meter costs and the meter catalog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Q
from django.utils import timezone

from ..models import (
    Meter,
    MeterCost,
    Product,
)


@dataclass(frozen=True)
class MeterSpec:
    id: int
    code: str
    name: str
    unit: str
    aggregation: str
    product_id: int


def _meter_spec(m: Meter) -> MeterSpec:
    return MeterSpec(m.id, m.code, m.name, m.unit, m.aggregation, m.product_id)


def meters_by_code() -> dict[str, MeterSpec]:
    return {m.code: _meter_spec(m) for m in Meter.objects.filter(is_active=True)}


def meters_by_ids(meter_ids) -> dict[int, MeterSpec]:
    """The meters with these ids (active or not) in one query; unknown ids are simply absent."""
    ids = {int(i) for i in meter_ids}
    return {m.id: _meter_spec(m) for m in Meter.objects.filter(id__in=ids)} if ids else {}


def meters_active() -> list[MeterSpec]:
    """Active meters by code (for choosing a meter in a form)."""
    return [_meter_spec(m) for m in Meter.objects.filter(is_active=True).order_by("code")]


def meter_list(*, search: str = "", product: str = "", include_inactive: bool = True) -> list[Meter]:
    qs = Meter.objects.select_related("product")
    if search:
        qs = qs.filter(Q(code__icontains=search) | Q(name__icontains=search))
    if product:
        qs = qs.filter(product__code=product)
    if not include_inactive:
        qs = qs.filter(is_active=True)
    meters = list(qs.order_by("product__name", "code"))
    costs = meter_costs_in_force(meter_ids=[m.id for m in meters], at=timezone.now())
    for meter in meters:
        meter.current_cost = costs.get(meter.id)
    return meters


def product_list(*, search: str = "") -> list[Product]:
    qs = Product.objects.annotate(meter_count=Count("meters"))
    if search:
        qs = qs.filter(Q(code__icontains=search) | Q(name__icontains=search))
    return list(qs.order_by("name"))


def meter_cost_in_force(*, meter_id: int, at: datetime) -> Decimal | None:
    """Cost of ONE unit in force at `at`, or None when no cost is recorded."""
    cost = MeterCost.objects.filter(meter_id=meter_id, effective_from__lte=at).order_by("-effective_from").first()
    return cost.cost_per_unit if cost else None


def meter_costs_in_force(*, meter_ids, at: datetime) -> dict[int, Decimal]:
    result: dict[int, Decimal] = {}
    for cost in MeterCost.objects.filter(meter_id__in=list(meter_ids), effective_from__lte=at).order_by(
        "meter_id", "-effective_from"
    ):
        result.setdefault(cost.meter_id, cost.cost_per_unit)
    return result


def meter_cost_history(*, meter_ids) -> dict[int, list[tuple[datetime, Decimal]]]:
    """Per meter, (effective_from, cost per unit) sorted ascending: resolve many instants in memory."""
    result: dict[int, list[tuple[datetime, Decimal]]] = {i: [] for i in meter_ids}
    for cost in MeterCost.objects.filter(meter_id__in=list(meter_ids)).order_by("meter_id", "effective_from"):
        result[cost.meter_id].append((cost.effective_from, cost.cost_per_unit))
    return result


# --- batch reads for insights and alerts


@dataclass(frozen=True)
class CatalogMeter:
    id: int
    code: str
    name: str
    unit: str
    product_code: str
    product_name: str

    @property
    def pk(self) -> int:
        return self.id

    @property
    def unit_plural(self) -> str:
        return unit_plural(self.unit)


def unit_plural(unit: str) -> str:
    """A meter's unit in the plural, for labels ("1,200 tokens")."""
    unit = unit or "unit"
    return unit if unit.endswith("s") else f"{unit}s"


def meter_catalog() -> list[CatalogMeter]:
    """Every meter with its product, in catalog order (product name, then code): one query."""
    return [
        CatalogMeter(m.id, m.code, m.name, m.unit, m.product.code, m.product.name)
        for m in Meter.objects.select_related("product").order_by("product__name", "code")
    ]
