"""Reads for reviewing a version: where it sits among the table's approved versions (timeline) and what it
changes against the version it replaces (diff, per meter and per tier)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from apps.core.money import percent_change

from .models import Meter, Rate, RateTableVersion, RateTier
from .pricing import TIERED_MODELS
from .selectors import RateRow, approved_versions, version_get, version_rate_rows, version_replaced


@dataclass(frozen=True)
class TimelineEntry:
    version: RateTableVersion
    starts: datetime | None
    ends: datetime | None
    role: str  # "in_force" (active at the new instant) | "this" | "replaces_this" (next one after) | "scheduled"


def version_timeline(*, version_id: int) -> dict:
    """The table's approved versions around a version's effective instant: what is in force then, this
    version, and every approved version scheduled after it (the first of which will replace it)."""
    version = version_get(version_id=version_id)
    approved = approved_versions(rate_table_id=version.rate_table_id, exclude_id=version.pk)
    at = version.effective_from
    entries: list[TimelineEntry] = []
    before = [v for v in approved if at is None or v.effective_from <= at]
    after = [v for v in approved if at is not None and v.effective_from > at]
    if before:
        entries.append(TimelineEntry(before[-1], before[-1].effective_from, at, "in_force"))
    entries.append(TimelineEntry(version, at, after[0].effective_from if after else None, "this"))
    for index, later in enumerate(after):
        ends = after[index + 1].effective_from if index + 1 < len(after) else None
        entries.append(TimelineEntry(later, later.effective_from, ends, "replaces_this" if index == 0 else "scheduled"))
    return {"entries": entries, "in_force": before[-1] if before else None, "replaced_by": after[0] if after else None}


@dataclass(frozen=True)
class TierChange:
    number: int
    old_up_to: Decimal | None
    new_up_to: Decimal | None
    old_price: Decimal | None
    new_price: Decimal | None
    old_fee: Decimal | None
    new_fee: Decimal | None
    exists_old: bool
    exists_new: bool

    @property
    def changed(self) -> bool:
        return (
            self.exists_old != self.exists_new
            or self.old_up_to != self.new_up_to
            or self.old_price != self.new_price
            or self.old_fee != self.new_fee
        )


@dataclass(frozen=True)
class FieldChange:
    label: str
    old: object
    new: object


@dataclass(frozen=True)
class CohortChange:
    """Who the prices apply to: part of what finance approves (the content hash covers it)."""

    old: str | None  # the replaced version's cohort (None: nothing replaced)
    new: str

    @property
    def changed(self) -> bool:
        return self.old is not None and self.old != self.new


@dataclass(frozen=True)
class DiffRow:
    meter: Meter
    change: str  # added | removed | changed | unchanged
    old: RateRow | None
    new: RateRow | None
    pct_change: Decimal | None
    field_changes: tuple[FieldChange, ...] = ()
    tier_changes: tuple[TierChange, ...] = ()

    @property
    def below_cost(self) -> bool:
        return bool(self.new and self.new.below_cost)

    @property
    def tiers_changed(self) -> bool:
        return any(t.changed for t in self.tier_changes)


def _field_changes(old: RateRow, new: RateRow) -> tuple[FieldChange, ...]:
    changes = []
    if old.rate.pricing_model != new.rate.pricing_model:
        changes.append(FieldChange("model", old.rate.get_pricing_model_display(), new.rate.get_pricing_model_display()))
    if old.rate.price_per_units != new.rate.price_per_units:
        changes.append(FieldChange("per units", old.rate.price_per_units, new.rate.price_per_units))
    if old.rate.free_units != new.rate.free_units:
        changes.append(FieldChange("free units", old.rate.free_units, new.rate.free_units))
    if (
        old.rate.unit_price != new.rate.unit_price
        and old.rate.pricing_model != new.rate.pricing_model
        and (old.rate.pricing_model not in TIERED_MODELS or new.rate.pricing_model not in TIERED_MODELS)
    ):
        changes.append(FieldChange("price", old.rate.unit_price, new.rate.unit_price))
    return tuple(changes)


def _tier_changes(old: RateRow | None, new: RateRow | None) -> tuple[TierChange, ...]:
    old_tiers = old.tiers if old and old.rate.pricing_model in TIERED_MODELS else []
    new_tiers = new.tiers if new and new.rate.pricing_model in TIERED_MODELS else []
    changes = []
    for index in range(max(len(old_tiers), len(new_tiers))):
        o = old_tiers[index] if index < len(old_tiers) else None
        n = new_tiers[index] if index < len(new_tiers) else None
        changes.append(
            TierChange(
                index + 1,
                o.up_to if o else None,
                n.up_to if n else None,
                o.unit_price if o else None,
                n.unit_price if n else None,
                o.flat_fee if o else None,
                n.flat_fee if n else None,
                o is not None,
                n is not None,
            )
        )
    return tuple(changes)


def version_diff(*, version_id: int) -> dict:
    version = version_get(version_id=version_id)
    base = version_replaced(version)
    new_rows = {r.rate.meter_id: r for r in version_rate_rows(version_id=version.id)}
    old_rows = {r.rate.meter_id: r for r in version_rate_rows(version_id=base.id)} if base else {}
    rows = []
    for meter_id in sorted(
        set(new_rows) | set(old_rows), key=lambda m: (new_rows.get(m) or old_rows.get(m)).rate.meter.code
    ):
        new, old = new_rows.get(meter_id), old_rows.get(meter_id)
        meter = (new or old).rate.meter
        if new and not old:
            change, pct = "added", None
        elif old and not new:
            change, pct = "removed", None
        else:
            same = _rate_signature(old.rate, old.tiers) == _rate_signature(new.rate, new.tiers)
            change = "unchanged" if same else "changed"
            pct = percent_change(old.list_price_per_unit, new.list_price_per_unit)
        fields = _field_changes(old, new) if old and new else ()
        rows.append(DiffRow(meter, change, old, new, pct, fields, _tier_changes(old, new)))
    return {
        "version": version,
        "base": base,
        "cohort": CohortChange(base.cohort_summary if base else None, version.cohort_summary),
        "rows": rows,
        "changed": sum(1 for r in rows if r.change == "changed"),
        "added": sum(1 for r in rows if r.change == "added"),
        "removed": sum(1 for r in rows if r.change == "removed"),
        "below_cost": [r for r in rows if r.below_cost],
    }


def _rate_signature(rate: Rate, tiers: list[RateTier]):
    return (
        rate.pricing_model,
        rate.unit_price,
        rate.price_per_units,
        rate.free_units,
        tuple((t.up_to, t.unit_price, t.flat_fee) for t in tiers),
    )
