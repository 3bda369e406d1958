"""Catalog reads. Plain data out (frozen dataclasses / dicts); no template-side queries."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from apps.core.money import margin_percent

from .models import (
    ApprovalDecision,
    Meter,
    MeterCost,
    Product,
    Rate,
    RateTable,
    RateTableVersion,
    RateTier,
    VersionContributor,
    VersionStatus,
)
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
    return RateSpec(
        pricing_model=rate.pricing_model,
        unit_price=rate.unit_price,
        price_per_units=rate.price_per_units,
        free_units=rate.free_units,
        tiers=tiers,
        meter_id=rate.meter_id,
    )


def _rates_prefetch() -> Prefetch:
    return Prefetch(
        "rates",
        queryset=Rate.objects.select_related("meter").prefetch_related(
            Prefetch("tiers", queryset=RateTier.objects.order_by(*RateTier._meta.ordering))
        ),
    )


def _version_spec(version: RateTableVersion) -> VersionSpec:
    return VersionSpec(
        id=version.id,
        number=version.number,
        rate_table_id=version.rate_table_id,
        effective_from=version.effective_from,
        rates={r.meter_id: rate_spec_from(r) for r in version.rates.all()},
    )


def _approved(rate_table_id: int):
    return RateTableVersion.objects.filter(rate_table_id=rate_table_id, status=VersionStatus.APPROVED)


def approved_versions(*, rate_table_id: int, exclude_id: int | None = None) -> list[RateTableVersion]:
    """The table's approved versions, oldest effective first (optionally without one of them)."""
    return list(_approved(rate_table_id).exclude(pk=exclude_id).order_by("effective_from", "number"))


def rate_table_version_in_force(*, rate_table_id: int, at: datetime) -> VersionSpec | None:
    """The approved version with the latest effective_from <= at (exact at the boundary instant)."""
    version = (
        _approved(rate_table_id)
        .filter(effective_from__lte=at)
        .order_by("-effective_from")
        .prefetch_related(_rates_prefetch())
        .first()
    )
    return _version_spec(version) if version else None


def rate_table_version_in_force_id(*, rate_table_id: int, at: datetime) -> int | None:
    return (
        _approved(rate_table_id)
        .filter(effective_from__lte=at)
        .order_by("-effective_from")
        .values_list("id", flat=True)
        .first()
    )


def rate_table_versions_approved(*, rate_table_ids) -> dict[int, list[VersionSpec]]:
    """All approved versions of the tables, sorted by effective_from (for resolving many instants)."""
    result: dict[int, list[VersionSpec]] = {i: [] for i in rate_table_ids}
    versions = (
        RateTableVersion.objects.filter(rate_table_id__in=list(rate_table_ids), status=VersionStatus.APPROVED)
        .order_by("rate_table_id", "effective_from")
        .prefetch_related(_rates_prefetch())
    )
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
    "draft": "Draft",
    "pending_approval": "Pending approval",
    "changes_requested": "Changes requested",
    "approved": "Approved",
    "rejected": "Rejected",
    "discarded": "Discarded",
    "active": "Active",
    "scheduled": "Scheduled",
    "superseded": "Superseded",
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
    versions = list(
        RateTableVersion.objects.filter(rate_table__in=tables)
        .exclude(status__in=[VersionStatus.DISCARDED, VersionStatus.REJECTED])
        .select_related("submitted_by", "created_by", "decided_by")
    )
    by_table: dict[int, list[RateTableVersion]] = {}
    for v in versions:
        by_table.setdefault(v.rate_table_id, []).append(v)
    summaries = []
    for table in tables:
        vs = by_table.get(table.id, [])
        approved = sorted((v for v in vs if v.status == VersionStatus.APPROVED), key=lambda v: v.effective_from)
        past = [v for v in approved if v.effective_from <= now]
        future = [v for v in approved if v.effective_from > now]
        open_versions = sorted(
            (
                v
                for v in vs
                if v.status in (VersionStatus.DRAFT, VersionStatus.PENDING_APPROVAL, VersionStatus.CHANGES_REQUESTED)
            ),
            key=lambda v: v.number,
        )
        summaries.append(
            RateTableSummary(
                table,
                past[-1] if past else None,
                future[0] if future else None,
                open_versions[-1] if open_versions else None,
            )
        )
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
    versions = (
        RateTableVersion.objects.filter(rate_table_id=rate_table_id)
        .select_related("created_by", "submitted_by", "decided_by")
        .annotate(rate_count=Count("rates"))
        .order_by("-number")
    )
    rows = []
    for v in versions:
        status = version_display_status(v, in_force_id=in_force, now=now)
        rows.append({"version": v, "status": status, "status_label": DISPLAY_LABELS[status]})
    return rows


def rate_table_timeline(*, rate_table_id: int) -> list[ApprovalDecision]:
    return list(
        ApprovalDecision.objects.filter(version__rate_table_id=rate_table_id)
        .select_related("actor", "version")
        .order_by("-created_at", "-id")
    )


def version_get(*, version_id: int) -> RateTableVersion | None:
    return (
        RateTableVersion.objects.select_related("rate_table", "created_by", "submitted_by", "decided_by", "based_on")
        .filter(pk=version_id)
        .first()
    )


def version_decisions(*, version_id: int) -> list[ApprovalDecision]:
    return list(
        ApprovalDecision.objects.filter(version_id=version_id).select_related("actor").order_by("created_at", "id")
    )


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


def review_queue() -> list[RateTableVersion]:
    return list(
        RateTableVersion.objects.filter(status=VersionStatus.PENDING_APPROVAL)
        .select_related("rate_table", "submitted_by")
        .annotate(rate_count=Count("rates"))
        .order_by("submitted_at")
    )


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
    versions = list(
        RateTableVersion.objects.filter(status=VersionStatus.CHANGES_REQUESTED)
        .select_related("rate_table", "decided_by")
        .order_by("-decided_at", "-id")[:limit]
    )
    decisions: dict[int, ApprovalDecision] = {}
    for d in (
        ApprovalDecision.objects.filter(version__in=versions, action=ApprovalDecision.Action.REQUEST_CHANGES)
        .select_related("actor")
        .order_by("created_at", "id")
    ):
        decisions[d.version_id] = d  # the latest wins
    result = []
    for v in versions:
        d = decisions.get(v.id)
        actor = d.actor if d and d.actor else v.decided_by
        result.append(
            ChangesRequested(
                v, actor.username if actor else "finance", d.comment if d else "", d.created_at if d else v.decided_at
            )
        )
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
