"""Catalog writes: products, meters, meter costs and rate tables."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction

from apps.core.actors import Actor
from apps.core.errors import ValidationFailed
from apps.core.money import to_decimal
from apps.core.roles import Cap

from ..models import (
    Meter,
    MeterCost,
    Product,
    RateTable,
)
from .common import _require, _save_with_reason

# ---- products, meters, costs --------------------------------------------------------------------


@transaction.atomic
def product_save(
    *,
    actor: Actor,
    code: str,
    name: str,
    description: str = "",
    is_active: bool = True,
    product: Product | None = None,
    reason: str = "",
) -> Product:
    _require(actor, Cap.CATALOG_EDIT)
    product = product or Product()
    product.code, product.name, product.description, product.is_active = code, name, description, is_active
    try:
        with transaction.atomic():
            _save_with_reason(product, reason)
    except IntegrityError:
        raise ValidationFailed(f"A product with code {code} already exists.", field="code") from None
    return product


@transaction.atomic
def meter_save(
    *,
    actor: Actor,
    product: Product,
    code: str,
    name: str,
    unit: str,
    aggregation: str,
    description: str = "",
    is_active: bool = True,
    meter: Meter | None = None,
    reason: str = "",
) -> Meter:
    _require(actor, Cap.CATALOG_EDIT)
    if meter is not None and meter.code != code and meter.rates.exists():
        raise ValidationFailed(
            "The code of a meter used by rate tables cannot change (usage events refer to it).", field="code"
        )
    meter = meter or Meter()
    meter.product, meter.code, meter.name, meter.unit = product, code, name, unit
    meter.aggregation, meter.description, meter.is_active = aggregation, description, is_active
    try:
        with transaction.atomic():
            _save_with_reason(meter, reason)
    except IntegrityError:
        raise ValidationFailed(f"A meter with code {code} already exists.", field="code") from None
    return meter


@transaction.atomic
def meter_cost_create(
    *,
    actor: Actor,
    meter: Meter,
    effective_from: datetime,
    unit_cost,
    per_units=1,
    currency: str = "USD",
    note: str = "",
) -> MeterCost:
    _require(actor, Cap.CATALOG_EDIT)
    unit_cost = to_decimal(unit_cost, field="unit_cost")
    per_units = to_decimal(per_units, field="per_units")
    if unit_cost < 0:
        raise ValidationFailed("A cost cannot be negative.", field="unit_cost")
    if per_units <= 0:
        raise ValidationFailed("Per units must be above zero.", field="per_units")
    if MeterCost.objects.filter(meter=meter, effective_from=effective_from).exists():
        raise ValidationFailed("This meter already has a cost from that instant.", field="effective_from")
    cost = MeterCost(
        meter=meter,
        effective_from=effective_from,
        unit_cost=unit_cost,
        per_units=per_units,
        currency=currency,
        note=note,
    )
    _save_with_reason(cost, note)
    return cost


@transaction.atomic
def meter_create(
    *,
    actor: Actor,
    product: Product,
    code: str,
    name: str,
    unit: str,
    aggregation: str,
    description: str = "",
    is_active: bool = True,
    reason: str = "",
    first_cost: dict | None = None,
) -> Meter:
    """A new meter and, when given, its first cost (effective_from, unit_cost, per_units, currency, note), at once."""
    meter = meter_save(
        actor=actor,
        product=product,
        code=code,
        name=name,
        unit=unit,
        aggregation=aggregation,
        description=description,
        is_active=is_active,
        reason=reason,
    )
    if first_cost:
        meter_cost_create(actor=actor, meter=meter, **first_cost)
    return meter


@transaction.atomic
def rate_table_create(
    *, actor: Actor, code: str, name: str, pricing_unit: str, description: str = "", currency_per_unit=Decimal(1)
) -> RateTable:
    _require(actor, Cap.CATALOG_EDIT)
    currency_per_unit = to_decimal(currency_per_unit, field="currency_per_unit")
    if currency_per_unit <= 0:
        raise ValidationFailed("A pricing unit must be worth more than zero.", field="currency_per_unit")
    if RateTable.objects.filter(code=code).exists():
        raise ValidationFailed(f"A rate table with code {code} already exists.", field="code")
    table = RateTable(
        code=code, name=name, pricing_unit=pricing_unit, description=description, currency_per_unit=currency_per_unit
    )
    _save_with_reason(table, "created")
    return table
