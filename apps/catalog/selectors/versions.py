"""Catalog reads: version specs, the version in force at an instant, rate tables and their versions."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Prefetch
from django.utils import timezone

from ..cohorts import Cohort, ContractFacts, VersionChoice, version_for_contract
from ..models import (
    Rate,
    RateTable,
    RateTableVersion,
    RateTier,
    VersionStatus,
)
from ..pricing import RateSpec, TierSpec


@dataclass(frozen=True)
class VersionSpec:
    id: int
    number: int
    rate_table_id: int
    effective_from: datetime
    rates: dict[int, RateSpec] = field(default_factory=dict)  # meter_id -> RateSpec
    cohort: str = Cohort.ALL  # which contracts it applies to (see catalog.cohorts)
    cohort_customers: frozenset[str] = frozenset()
    cohort_segments: frozenset[str] = frozenset()
    grandfather_until: datetime | None = None


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
        cohort=version.cohort,
        cohort_customers=frozenset(version.cohort_customers or ()),
        cohort_segments=frozenset(version.cohort_segments or ()),
        grandfather_until=version.grandfather_until,
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


def version_choice(versions: list[VersionSpec], contract: ContractFacts, at: datetime) -> VersionChoice | None:
    """The version pricing a contract at `at` and the rule that picked it (cohorts, grandfathering, price
    protection): catalog.cohorts.version_for_contract over a sorted list (see rate_table_versions_approved)."""
    return version_for_contract(versions, contract, at)


def version_for_contract_at(versions: list[VersionSpec], contract: ContractFacts, at: datetime) -> VersionSpec | None:
    choice = version_for_contract(versions, contract, at)
    return choice.version if choice else None  # type: ignore[return-value]


def rate_table_version_choice(*, rate_table_id: int, contract: ContractFacts, at: datetime) -> VersionChoice | None:
    """One contract, one instant (entitlement checks, explanations): the approved versions read once."""
    versions = rate_table_versions_approved(rate_table_ids=[rate_table_id]).get(rate_table_id, [])
    return version_for_contract(versions, contract, at)


def approved_version_of_table(*, version_id: int, rate_table_id: int) -> bool:
    """Whether a version is an approved version of the table (what price protection may name)."""
    return RateTableVersion.objects.filter(
        pk=version_id, rate_table_id=rate_table_id, status=VersionStatus.APPROVED
    ).exists()


def approved_version_choices(*, rate_table_ids) -> list[RateTableVersion]:
    """Approved versions of the tables, by table and number (for choosing a protected version in a form)."""
    return list(
        RateTableVersion.objects.filter(rate_table_id__in=list(rate_table_ids), status=VersionStatus.APPROVED)
        .select_related("rate_table")
        .order_by("rate_table__name", "number")
    )


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
        .select_related("created_by", "submitted_by", "decided_by", "reverts_to")
        .annotate(rate_count=Count("rates"))
        .order_by("-number")
    )
    rows = []
    for v in versions:
        status = version_display_status(v, in_force_id=in_force, now=now)
        rows.append({"version": v, "status": status, "status_label": DISPLAY_LABELS[status]})
    return rows


def version_get(*, version_id: int) -> RateTableVersion | None:
    return (
        RateTableVersion.objects.select_related(
            "rate_table", "created_by", "submitted_by", "decided_by", "based_on", "reverts_to"
        )
        .filter(pk=version_id)
        .first()
    )
