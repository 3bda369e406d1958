"""Catalog writes: the rates and tiers of a draft version."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from apps.core.actors import Actor
from apps.core.errors import NotFound, ValidationFailed
from apps.core.money import to_decimal
from apps.core.roles import Cap

from ..models import (
    Meter,
    Rate,
    RateTier,
)
from ..pricing import PRICING_MODELS, TIERED_MODELS, PricingError, TierSpec, validate_tiers
from .common import _require, _save_with_reason
from .versions import _lock_version, _record_contributor, _require_editable

RATE_FIELDS = {"pricing_model", "unit_price", "price_per_units", "free_units"}


def _clean_rate_value(field: str, raw) -> object:
    if field not in RATE_FIELDS:
        raise ValidationFailed(f"Unknown field {field}.", field=field)
    if field == "pricing_model":
        if raw not in PRICING_MODELS:
            raise ValidationFailed("Choose a pricing model: per unit, graduated, volume or package.", field=field)
        return raw
    value = to_decimal(raw, field=field.replace("_", " "))
    if value < 0:
        raise ValidationFailed("Cannot be negative.", field=field)
    if field == "price_per_units" and value <= 0:
        raise ValidationFailed("Must be above zero (e.g. 1, 1000 or 1000000).", field=field)
    if value.as_tuple().exponent < -12:
        raise ValidationFailed("At most 12 decimal places.", field=field)
    if value >= Decimal(10) ** 18:
        raise ValidationFailed("Too large.", field=field)
    return value


@transaction.atomic
def rate_update_field(*, rate_id: int, field: str, value, actor: Actor) -> Rate:
    """Save one edited cell of a draft's rate (validated on its own)."""
    _require(actor, Cap.CATALOG_EDIT)
    rate = Rate.objects.select_related("version").filter(pk=rate_id).first()
    if rate is None:
        raise NotFound("No such rate.")
    _require_editable(_lock_version(rate.version_id))
    setattr(rate, field, _clean_rate_value(field, value))
    _record_contributor(rate.version_id, actor)
    if field == "pricing_model" and rate.pricing_model in TIERED_MODELS and not rate.tiers.exists():
        RateTier.objects.create(rate=rate, up_to=None, unit_price=rate.unit_price)
    _save_with_reason(rate, f"{field} set to {value}")
    return rate


@transaction.atomic
def rate_add(
    *,
    version_id: int,
    meter_id: int,
    actor: Actor,
    unit_price="0",
    price_per_units="1",
    pricing_model: str = "per_unit",
) -> Rate:
    _require(actor, Cap.CATALOG_EDIT)
    version = _lock_version(version_id)
    _require_editable(version)
    meter = Meter.objects.filter(pk=meter_id, is_active=True).first()
    if meter is None:
        raise ValidationFailed("Choose an active meter.", field="meter")
    if version.rates.filter(meter=meter).exists():
        raise ValidationFailed(f"{meter.code} already has a rate in this version.", field="meter")
    rate = Rate(
        version=version,
        meter=meter,
        pricing_model=_clean_rate_value("pricing_model", pricing_model),
        unit_price=_clean_rate_value("unit_price", unit_price),
        price_per_units=_clean_rate_value("price_per_units", price_per_units),
    )
    _save_with_reason(rate, "added")
    _record_contributor(version.id, actor)
    if rate.pricing_model in TIERED_MODELS:
        RateTier.objects.create(rate=rate, up_to=None, unit_price=rate.unit_price)
    return rate


@transaction.atomic
def rate_remove(*, rate_id: int, actor: Actor) -> None:
    _require(actor, Cap.CATALOG_EDIT)
    rate = Rate.objects.filter(pk=rate_id).first()
    if rate is None:
        raise NotFound("No such rate.")
    _require_editable(_lock_version(rate.version_id))
    _record_contributor(rate.version_id, actor)
    rate.tiers.all().delete()
    rate._change_reason = "removed"
    rate.delete()


def parse_tiers(rows: list[dict]) -> list[TierSpec]:
    """Tiers from form rows [{"up_to", "unit_price", "flat_fee"}]; blank rows skipped; blank up_to = open."""
    tiers = []
    for index, row in enumerate(rows, start=1):
        up_to, price, fee = (str(row.get(k) or "").strip() for k in ("up_to", "unit_price", "flat_fee"))
        if not (up_to or price or fee):
            continue
        if not price:
            raise ValidationFailed(f"Tier {index}: enter a unit price.", field="tiers")
        tiers.append(
            TierSpec(
                to_decimal(up_to, field=f"tier {index} bound") if up_to else None,
                to_decimal(price, field=f"tier {index} price"),
                to_decimal(fee or "0", field=f"tier {index} flat fee"),
            )
        )
    tiers.sort(key=lambda t: (t.up_to is None, t.up_to or 0))
    try:
        validate_tiers(tiers)
    except PricingError as exc:
        raise ValidationFailed(str(exc), field="tiers") from None
    return tiers


@transaction.atomic
def rate_tiers_set(*, rate_id: int, tiers: list[TierSpec], actor: Actor) -> Rate:
    _require(actor, Cap.CATALOG_EDIT)
    rate = Rate.objects.filter(pk=rate_id).first()
    if rate is None:
        raise NotFound("No such rate.")
    _require_editable(_lock_version(rate.version_id))
    try:
        validate_tiers(tuple(tiers))
    except PricingError as exc:
        raise ValidationFailed(str(exc), field="tiers") from None
    rate.tiers.all().delete()
    RateTier.objects.bulk_create(
        [RateTier(rate=rate, up_to=t.up_to, unit_price=t.unit_price, flat_fee=t.flat_fee) for t in tiers]
    )
    _save_with_reason(rate, "tiers edited")
    _record_contributor(rate.version_id, actor)
    return rate
