"""Simulation test helpers: drafts through the catalog's services, snapshots of everything rating writes, and the
reference the simulation must equal (approval backdated to the range start through the normal services, then a
re-rate)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from apps.alerts.models import Alert, NotificationDelivery
from apps.catalog import services as catalog
from apps.catalog.models import ApprovalDecision, RateTableVersion
from apps.usage.models import DailyAttribution, DailyUsage, RatedUsage, RatingBatch, RatingCursor, UsageEvent
from apps.usage.services import usage_rerate
from apps.usage.simulation.selectors import range_sums
from apps.wallets.models import CreditGrant, LedgerAllocation, LedgerEntry, Wallet

WRITTEN_BY_RATING = (
    RatedUsage,
    RatingBatch,
    RatingCursor,
    DailyUsage,
    DailyAttribution,
    LedgerEntry,
    LedgerAllocation,
    CreditGrant,
    Wallet,
    Alert,
    NotificationDelivery,
    RateTableVersion,
    ApprovalDecision,
)


def snapshot() -> dict:
    """Every row (all fields) of every table rating, re-rating, the wallet, alerts or approval write, and the
    events' rating states."""
    state = {model.__name__: sorted(map(repr, model.objects.order_by("pk").values())) for model in WRITTEN_BY_RATING}
    state["UsageEvent.state"] = sorted(UsageEvent.objects.values_list("pk", "state", "rating_error"))
    return state


def set_rates(world, version, rates: dict) -> None:
    """rates as World.version takes them, on an editable version."""
    world.set_rates(version, rates)


def draft(world, table, rates: dict):
    version = catalog.rate_table_version_create_draft(rate_table_id=table.id, actor=world.owner)
    set_rates(world, version, rates)
    return version


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    return datetime.combine(first, time.min, tzinfo=UTC), datetime.combine(
        last + timedelta(days=1), time.min, tzinfo=UTC
    )


def approve_backdated_and_rerate(world, version, *, first: date, last: date, customers) -> dict:
    """The reference: submit the version effective at the range start (backdated, with a reason), approve it
    through the normal services, re-rate the range; the figures per (customer id, meter id)."""
    start, end = day_range(first, last)
    submitted = catalog.rate_table_version_submit(
        version_id=version.id,
        effective_from=start,
        reason="simulated change",
        backdate_reason="compare with the simulation",
        actor=world.owner,
    )
    catalog.rate_table_version_approve(
        version_id=version.id, content_hash=submitted.content_hash, actor=world.finance, now=timezone.now()
    )
    usage_rerate(start=start, end=end, actor=world.finance, reason="reference re-rate")
    sums = range_sums(customer_ids=[c.pk for c in customers], start=start, end=end)
    return {(c.pk, meter_id): figures for c in customers for meter_id, figures in sums[c.pk].items()}
