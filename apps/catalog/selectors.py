"""Catalog reads. Plain data out (frozen dataclasses / dicts); no template-side queries."""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from apps.core.money import margin_percent, percent_change

from .models import ApprovalDecision, Meter, MeterCost, Product, Rate, RateTable, RateTableVersion, RateTier, VersionStatus
from .models import VersionContributor
from .pricing import TIERED_MODELS, RateSpec, TierSpec, list_unit_price


@dataclass(frozen=True)
class MeterSpec:
    id: int
    code: str
    name: str
    unit: str
    aggregation: str
    product_id: int


@dataclass(frozen=True)
class VersionSpec:
    id: int
    number: int
    rate_table_id: int
    effective_from: datetime
    rates: dict[int, RateSpec] = field(default_factory=dict)  # meter_id -> RateSpec


def rate_spec_from(rate: Rate) -> RateSpec:
    tiers = tuple(TierSpec(t.up_to, t.unit_price, t.flat_fee) for t in rate.tiers.all())
    return RateSpec(pricing_model=rate.pricing_model, unit_price=rate.unit_price,
                    price_per_units=rate.price_per_units, free_units=rate.free_units, tiers=tiers,
                    meter_id=rate.meter_id)


def _rates_prefetch() -> Prefetch:
    return Prefetch("rates", queryset=Rate.objects.select_related("meter").prefetch_related(
        Prefetch("tiers", queryset=RateTier.objects.order_by(*RateTier._meta.ordering))))


def _version_spec(version: RateTableVersion) -> VersionSpec:
    return VersionSpec(id=version.id, number=version.number, rate_table_id=version.rate_table_id,
                       effective_from=version.effective_from,
                       rates={r.meter_id: rate_spec_from(r) for r in version.rates.all()})


def _approved(rate_table_id: int):
    return RateTableVersion.objects.filter(rate_table_id=rate_table_id, status=VersionStatus.APPROVED)


def rate_table_version_in_force(*, rate_table_id: int, at: datetime) -> VersionSpec | None:
    """The approved version with the latest effective_from <= at (exact at the boundary instant)."""
    version = (_approved(rate_table_id).filter(effective_from__lte=at).order_by("-effective_from")
               .prefetch_related(_rates_prefetch()).first())
    return _version_spec(version) if version else None


def rate_table_version_in_force_id(*, rate_table_id: int, at: datetime) -> int | None:
    return (_approved(rate_table_id).filter(effective_from__lte=at).order_by("-effective_from")
            .values_list("id", flat=True).first())


def rate_table_versions_approved(*, rate_table_ids) -> dict[int, list[VersionSpec]]:
    """All approved versions of the tables, sorted by effective_from (for resolving many instants)."""
    result: dict[int, list[VersionSpec]] = {i: [] for i in rate_table_ids}
    versions = (RateTableVersion.objects.filter(rate_table_id__in=list(rate_table_ids), status=VersionStatus.APPROVED)
                .order_by("rate_table_id", "effective_from").prefetch_related(_rates_prefetch()))
    for version in versions:
        result[version.rate_table_id].append(_version_spec(version))
    return result


def version_for_instant(versions: list[VersionSpec], at: datetime) -> VersionSpec | None:
    """Pick from a sorted list (see rate_table_versions_approved) the version in force at `at`."""
    index = bisect_right([v.effective_from for v in versions], at)
    return versions[index - 1] if index else None


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
    for cost in (MeterCost.objects.filter(meter_id__in=list(meter_ids), effective_from__lte=at)
                 .order_by("meter_id", "-effective_from")):
        result.setdefault(cost.meter_id, cost.cost_per_unit)
    return result


def meter_cost_history(*, meter_ids) -> dict[int, list[tuple[datetime, Decimal]]]:
    """Per meter, (effective_from, cost per unit) sorted ascending: resolve many instants in memory."""
    result: dict[int, list[tuple[datetime, Decimal]]] = {i: [] for i in meter_ids}
    for cost in MeterCost.objects.filter(meter_id__in=list(meter_ids)).order_by("meter_id", "effective_from"):
        result[cost.meter_id].append((cost.effective_from, cost.cost_per_unit))
    return result


# ---- version status as seen at an instant -------------------------------------------------------

def version_display_status(version: RateTableVersion, *, in_force_id: int | None, now: datetime) -> str:
    if version.status != VersionStatus.APPROVED:
        return version.status
    if version.id == in_force_id:
        return "active"
    if version.effective_from > now:
        return "scheduled"
    return "superseded"


DISPLAY_LABELS = {
    "draft": "Draft", "pending_approval": "Pending approval", "changes_requested": "Changes requested",
    "approved": "Approved", "rejected": "Rejected", "discarded": "Discarded", "active": "Active",
    "scheduled": "Scheduled", "superseded": "Superseded",
}


@dataclass(frozen=True)
class RateTableSummary:
    table: RateTable
    active: RateTableVersion | None
    scheduled: RateTableVersion | None
    open_version: RateTableVersion | None  # draft / pending / changes requested


def rate_table_list(*, now: datetime | None = None) -> list[RateTableSummary]:
    now = now or timezone.now()
    tables = list(RateTable.objects.order_by("name"))
    versions = list(RateTableVersion.objects.filter(rate_table__in=tables).exclude(
        status__in=[VersionStatus.DISCARDED, VersionStatus.REJECTED]).select_related("submitted_by", "created_by",
                                                                                    "decided_by"))
    by_table: dict[int, list[RateTableVersion]] = {}
    for v in versions:
        by_table.setdefault(v.rate_table_id, []).append(v)
    summaries = []
    for table in tables:
        vs = by_table.get(table.id, [])
        approved = sorted((v for v in vs if v.status == VersionStatus.APPROVED), key=lambda v: v.effective_from)
        past = [v for v in approved if v.effective_from <= now]
        future = [v for v in approved if v.effective_from > now]
        open_versions = sorted((v for v in vs if v.status in (VersionStatus.DRAFT, VersionStatus.PENDING_APPROVAL,
                                                              VersionStatus.CHANGES_REQUESTED)),
                               key=lambda v: v.number)
        summaries.append(RateTableSummary(table, past[-1] if past else None, future[0] if future else None,
                                          open_versions[-1] if open_versions else None))
    return summaries


def rate_table_get(*, code: str) -> RateTable | None:
    return RateTable.objects.filter(code=code).first()


def rate_table_choices() -> list[RateTable]:
    """Every rate table by name (for choosing one in a form)."""
    return list(RateTable.objects.order_by("name"))


def rate_table_exists(*, rate_table_id) -> bool:
    return rate_table_id is not None and RateTable.objects.filter(pk=rate_table_id).exists()


def rate_table_codes_by_ids(rate_table_ids) -> dict[int, str]:
    ids = {int(i) for i in rate_table_ids}
    return dict(RateTable.objects.filter(id__in=ids).values_list("id", "code")) if ids else {}


def rate_table_ids_by_code(codes) -> dict[str, int]:
    return dict(RateTable.objects.filter(code__in=list(codes)).values_list("code", "id"))


def rate_table_versions(*, rate_table_id: int, now: datetime | None = None) -> list[dict]:
    now = now or timezone.now()
    in_force = rate_table_version_in_force_id(rate_table_id=rate_table_id, at=now)
    versions = (RateTableVersion.objects.filter(rate_table_id=rate_table_id)
                .select_related("created_by", "submitted_by", "decided_by").annotate(rate_count=Count("rates"))
                .order_by("-number"))
    rows = []
    for v in versions:
        status = version_display_status(v, in_force_id=in_force, now=now)
        rows.append({"version": v, "status": status, "status_label": DISPLAY_LABELS[status]})
    return rows


def rate_table_timeline(*, rate_table_id: int) -> list[ApprovalDecision]:
    return list(ApprovalDecision.objects.filter(version__rate_table_id=rate_table_id)
                .select_related("actor", "version").order_by("-created_at", "-id"))


def version_get(*, version_id: int) -> RateTableVersion | None:
    return (RateTableVersion.objects.select_related("rate_table", "created_by", "submitted_by", "decided_by",
                                                    "based_on").filter(pk=version_id).first())


def version_decisions(*, version_id: int) -> list[ApprovalDecision]:
    return list(ApprovalDecision.objects.filter(version_id=version_id).select_related("actor").order_by("created_at", "id"))


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
    rates = list(Rate.objects.filter(version_id=version_id).select_related("meter", "meter__product",
                                                                         "version__rate_table")
                 .prefetch_related(Prefetch("tiers", queryset=RateTier.objects.order_by(*RateTier._meta.ordering)))
                 .order_by("meter__product__name", "meter__code"))
    costs = meter_costs_in_force(meter_ids=[r.meter_id for r in rates], at=at)
    return [_rate_row(rate, costs.get(rate.meter_id)) for rate in rates]


def rate_row(*, rate_id: int, at: datetime | None = None) -> RateRow:
    rate = (Rate.objects.select_related("meter", "meter__product", "version__rate_table")
            .prefetch_related(Prefetch("tiers", queryset=RateTier.objects.order_by(*RateTier._meta.ordering)))
            .get(pk=rate_id))
    return _rate_row(rate, meter_cost_in_force(meter_id=rate.meter_id, at=at or timezone.now()))


def _rate_row(rate: Rate, cost: Decimal | None) -> RateRow:
    """Cost is converted into the table's pricing unit (e.g. credits) so price, cost and margin compare."""
    if cost is not None:
        cost = cost / rate.version.rate_table.currency_per_unit
    tiers = list(rate.tiers.all())
    spec = RateSpec(rate.pricing_model, rate.unit_price, rate.price_per_units, rate.free_units,
                    tuple(TierSpec(t.up_to, t.unit_price, t.flat_fee) for t in tiers))
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
    return list(Meter.objects.filter(is_active=True).exclude(id__in=used).select_related("product")
                .order_by("product__name", "code"))


# ---- review: diff against the version it replaces ----------------------------------------------

def version_contributor_ids(version: RateTableVersion) -> set[int]:
    """Users who created, edited or submitted the version: none of them may decide on it (four-eyes)."""
    ids = set(VersionContributor.objects.filter(version_id=version.pk).values_list("user_id", flat=True))
    return ids | {pk for pk in (version.created_by_id, version.submitted_by_id) if pk is not None}


def version_replaced(version: RateTableVersion) -> RateTableVersion | None:
    """The approved version this one is compared with.

    With an effective instant: the approved version in force at that instant (what it replaces then).
    Without one (a fresh draft): the newest approved version, scheduled ones included, which is what a
    new draft is copied from."""
    approved = _approved(version.rate_table_id).exclude(pk=version.pk)
    if version.effective_from is not None:
        approved = approved.filter(effective_from__lte=version.effective_from)
    return approved.order_by("-effective_from", "-number").first()


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
    approved = list(_approved(version.rate_table_id).exclude(pk=version.pk).order_by("effective_from", "number"))
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
    return {"entries": entries, "in_force": before[-1] if before else None,
            "replaced_by": after[0] if after else None}


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
        return (self.exists_old != self.exists_new or self.old_up_to != self.new_up_to
                or self.old_price != self.new_price or self.old_fee != self.new_fee)


@dataclass(frozen=True)
class FieldChange:
    label: str
    old: object
    new: object


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
    if old.rate.unit_price != new.rate.unit_price and old.rate.pricing_model != new.rate.pricing_model and (
            old.rate.pricing_model not in TIERED_MODELS or new.rate.pricing_model not in TIERED_MODELS):
        changes.append(FieldChange("price", old.rate.unit_price, new.rate.unit_price))
    return tuple(changes)


def _tier_changes(old: RateRow | None, new: RateRow | None) -> tuple[TierChange, ...]:
    old_tiers = old.tiers if old and old.rate.pricing_model in TIERED_MODELS else []
    new_tiers = new.tiers if new and new.rate.pricing_model in TIERED_MODELS else []
    changes = []
    for index in range(max(len(old_tiers), len(new_tiers))):
        o = old_tiers[index] if index < len(old_tiers) else None
        n = new_tiers[index] if index < len(new_tiers) else None
        changes.append(TierChange(index + 1, o.up_to if o else None, n.up_to if n else None,
                                  o.unit_price if o else None, n.unit_price if n else None,
                                  o.flat_fee if o else None, n.flat_fee if n else None, o is not None, n is not None))
    return tuple(changes)


def version_diff(*, version_id: int) -> dict:
    version = version_get(version_id=version_id)
    base = version_replaced(version)
    new_rows = {r.rate.meter_id: r for r in version_rate_rows(version_id=version.id)}
    old_rows = {r.rate.meter_id: r for r in version_rate_rows(version_id=base.id)} if base else {}
    rows = []
    for meter_id in sorted(set(new_rows) | set(old_rows),
                           key=lambda m: (new_rows.get(m) or old_rows.get(m)).rate.meter.code):
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
        "version": version, "base": base, "rows": rows,
        "changed": sum(1 for r in rows if r.change == "changed"),
        "added": sum(1 for r in rows if r.change == "added"),
        "removed": sum(1 for r in rows if r.change == "removed"),
        "below_cost": [r for r in rows if r.below_cost],
    }


def _rate_signature(rate: Rate, tiers: list[RateTier]):
    return (rate.pricing_model, rate.unit_price, rate.price_per_units, rate.free_units,
            tuple((t.up_to, t.unit_price, t.flat_fee) for t in tiers))


def review_queue() -> list[RateTableVersion]:
    return list(RateTableVersion.objects.filter(status=VersionStatus.PENDING_APPROVAL)
                .select_related("rate_table", "submitted_by").annotate(rate_count=Count("rates"))
                .order_by("submitted_at"))


def review_queue_count(user=None) -> int:
    qs = RateTableVersion.objects.filter(status=VersionStatus.PENDING_APPROVAL)
    if user is not None and getattr(user, "pk", None):
        # what this user may decide on: nothing they created, edited or submitted (four-eyes)
        qs = qs.exclude(submitted_by=user).exclude(created_by=user).exclude(contributors__user=user)
    return qs.count()


def version_rate_specs(*, version_id: int) -> dict[int, RateSpec]:
    """meter_id -> RateSpec for any version (drafts and pending ones included)."""
    version = RateTableVersion.objects.filter(pk=version_id).prefetch_related(_rates_prefetch()).first()
    return _version_spec(version).rates if version else {}


@dataclass(frozen=True)
class ChangesRequested:
    version: RateTableVersion
    requested_by: str
    comment: str
    requested_at: datetime


def changes_requested_list(*, limit: int = 20) -> list[ChangesRequested]:
    """Versions sent back by finance, each with the latest 'request changes' decision (who, what, when)."""
    versions = list(RateTableVersion.objects.filter(status=VersionStatus.CHANGES_REQUESTED)
                    .select_related("rate_table", "decided_by").order_by("-decided_at", "-id")[:limit])
    decisions: dict[int, ApprovalDecision] = {}
    for d in (ApprovalDecision.objects.filter(version__in=versions, action=ApprovalDecision.Action.REQUEST_CHANGES)
              .select_related("actor").order_by("created_at", "id")):
        decisions[d.version_id] = d  # the latest wins
    result = []
    for v in versions:
        d = decisions.get(v.id)
        actor = d.actor if d and d.actor else v.decided_by
        result.append(ChangesRequested(v, actor.username if actor else "finance", d.comment if d else "",
                                       d.created_at if d else v.decided_at))
    return result
