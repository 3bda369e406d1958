"""Catalog reads: the review queue, decisions, contributors and requested changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count

from ..models import (
    ApprovalDecision,
    RateTableVersion,
    VersionContributor,
    VersionStatus,
)
from .versions import _approved


def rate_table_timeline(*, rate_table_id: int) -> list[ApprovalDecision]:
    return list(
        ApprovalDecision.objects.filter(version__rate_table_id=rate_table_id)
        .select_related("actor", "version")
        .order_by("-created_at", "-id")
    )


def version_decisions(*, version_id: int) -> list[ApprovalDecision]:
    return list(
        ApprovalDecision.objects.filter(version_id=version_id).select_related("actor").order_by("created_at", "id")
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
