"""Catalog writes: rate-table versions and the maker-checker workflow (see the package docstring)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.errors import Conflict, Forbidden, FourEyesViolation, InvalidTransition, NotFound, ValidationFailed
from apps.core.permissions import user_can
from apps.core.roles import Cap

from ..cohorts import Cohort
from ..models import (
    ApprovalDecision,
    Rate,
    RateTable,
    RateTableVersion,
    RateTier,
    VersionContributor,
)
from ..pricing import TIERED_MODELS, PricingError, TierSpec, validate_tiers
from ..selectors import version_cohort_canonical, version_contributor_ids, version_rates_canonical
from ..signals import rate_table_version_approved
from .common import EDITABLE, OPEN, S, _require, _save_with_reason

# ---- versions -----------------------------------------------------------------------------------


def _decide(
    version: RateTableVersion,
    *,
    action: str,
    actor: Actor,
    from_status: str,
    comment: str = "",
    at: datetime | None = None,
) -> None:
    """Record a transition (append-only: the database refuses to change it afterwards)."""
    ApprovalDecision.objects.create(
        version=version,
        action=action,
        actor=actor.user,
        comment=comment,
        content_hash=version.content_hash,
        from_status=from_status,
        to_status=version.status,
        effective_from=version.effective_from,
        created_at=at or timezone.now(),
    )


def _lock_version(version_id: int) -> RateTableVersion:
    version = RateTableVersion.objects.select_for_update().filter(pk=version_id).first()
    if version is None:
        raise NotFound("No such rate table version.")
    return version


def _require_editable(version: RateTableVersion) -> None:
    if version.status not in EDITABLE:
        raise InvalidTransition(
            f"Version {version.number} is {version.get_status_display().lower()}; only drafts can be edited."
        )


def _record_contributor(version_id: int, actor: Actor) -> None:
    """Remember that this person changed the version's content (four-eyes: they may not decide on it)."""
    if actor.user is not None:
        VersionContributor.objects.get_or_create(version_id=version_id, user=actor.user)


def _copy_rates(source: RateTableVersion, draft: RateTableVersion) -> None:
    for rate in source.rates.prefetch_related("tiers"):
        copy = Rate.objects.create(
            version=draft,
            meter_id=rate.meter_id,
            pricing_model=rate.pricing_model,
            unit_price=rate.unit_price,
            price_per_units=rate.price_per_units,
            free_units=rate.free_units,
        )
        RateTier.objects.bulk_create(
            [RateTier(rate=copy, up_to=t.up_to, unit_price=t.unit_price, flat_fee=t.flat_fee) for t in rate.tiers.all()]
        )


def _lock_table_without_open_version(rate_table_id: int) -> RateTable:
    table = RateTable.objects.select_for_update().filter(pk=rate_table_id).first()
    if table is None:
        raise NotFound("No such rate table.")
    open_version = table.versions.filter(status__in=OPEN).first()
    if open_version is not None:
        raise Conflict(
            f"Version {open_version.number} is still {open_version.get_status_display().lower()}: "
            "finish or discard it before starting another draft.",
            code="open_version_exists",
            extra={"version_id": open_version.id},
        )
    return table


@transaction.atomic
def rate_table_version_create_draft(
    *, rate_table_id: int, actor: Actor, now: datetime | None = None
) -> RateTableVersion:
    """A new draft copying the newest approved version, scheduled ones included (or empty).

    Copying the version in force now instead would silently undo a scheduled version's prices when the new
    draft is approved after it."""
    _require(actor, Cap.CATALOG_EDIT)
    table = _lock_table_without_open_version(rate_table_id)
    source = table.versions.filter(status=S.APPROVED).order_by("-effective_from", "-number").first()
    number = (table.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    draft = RateTableVersion(rate_table=table, number=number, status=S.DRAFT, based_on=source, created_by=actor.user)
    _save_with_reason(draft, f"new draft from v{source.number}" if source else "new draft")
    if source is not None:
        _copy_rates(source, draft)
    _record_contributor(draft.id, actor)
    _decide(
        draft,
        action=ApprovalDecision.Action.CREATE,
        actor=actor,
        from_status="",
        comment=f"Copied from v{source.number}" if source else "Empty draft",
        at=now,
    )
    return draft


def version_content_hash(version: RateTableVersion) -> str:
    """SHA-256 over the version's rates (canonical), effective instant and cohort (when not the default)."""
    payload = {
        "rates": version_rates_canonical(version_id=version.pk),
        "effective_from": version.effective_from.isoformat() if version.effective_from else None,
    }
    cohort = version_cohort_canonical(version)
    if cohort is not None:
        payload["cohort"] = cohort
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


_SEGMENT_OR_ID = re.compile(r"^[-a-zA-Z0-9_]{1,80}$")


@transaction.atomic
def rate_table_version_set_cohort(
    *,
    version_id: int,
    cohort: str,
    customers: Iterable[str] = (),
    segments: Iterable[str] = (),
    grandfather_until: datetime | None = None,
    actor: Actor,
) -> RateTableVersion:
    """Set which contracts a draft applies to (see catalog.cohorts). Part of the content: the hash covers it, so
    finance approves it, and whoever sets it may not decide on the version. Customers are external ids and
    segments codes (the contracts app, which knows them, checks they exist before calling)."""
    _require(actor, Cap.CATALOG_EDIT)
    version = _lock_version(version_id)
    _require_editable(version)
    if cohort not in Cohort.values:
        raise ValidationFailed("Choose who the new prices apply to.", field="cohort", code="invalid_cohort")
    customers = sorted({str(c).strip() for c in customers if str(c).strip()})
    segments = sorted({str(s).strip() for s in segments if str(s).strip()})
    for value in (*customers, *segments):
        if not _SEGMENT_OR_ID.match(value):
            raise ValidationFailed(f"{value!r} is not a customer id or segment code.", field="cohort_customers")
    if cohort == Cohort.CHOSEN and not (customers or segments):
        raise ValidationFailed(
            "Choose at least one customer or segment (or apply the version to all contracts).",
            field="cohort_customers",
            code="empty_cohort",
        )
    if grandfather_until is not None and (grandfather_until.tzinfo is None or grandfather_until.utcoffset() is None):
        raise ValidationFailed("Dates must carry a time zone.", field="grandfather_until")
    if cohort == Cohort.ALL:
        customers, segments, grandfather_until = [], [], None
    version.cohort = cohort
    version.cohort_customers = customers if cohort == Cohort.CHOSEN else []
    version.cohort_segments = segments if cohort == Cohort.CHOSEN else []
    version.grandfather_until = grandfather_until
    _save_with_reason(version, f"cohort: {version.cohort_summary}")
    _record_contributor(version.id, actor)
    return version


def _check_effective_from_free(version: RateTableVersion) -> None:
    clash = (
        RateTableVersion.objects.filter(
            rate_table_id=version.rate_table_id, status=S.APPROVED, effective_from=version.effective_from
        )
        .exclude(pk=version.pk)
        .first()
    )
    if clash is not None:
        raise ValidationFailed(
            f"Version {clash.number} is already approved from that instant; choose another.",
            field="effective_from",
            code="effective_from_taken",
        )


@transaction.atomic
def rate_table_version_submit(
    *,
    version_id: int,
    effective_from: datetime,
    reason: str,
    actor: Actor,
    backdate_reason: str = "",
    now: datetime | None = None,
) -> RateTableVersion:
    _require(actor, Cap.CATALOG_EDIT)
    now = now or timezone.now()
    version = _lock_version(version_id)
    if version.status not in EDITABLE:
        raise InvalidTransition(
            f"Only drafts can be submitted; version {version.number} is {version.get_status_display().lower()}."
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why prices change (the reason finance reads).", field="reason")
    if effective_from is None:
        raise ValidationFailed("Choose when the new prices take effect.", field="effective_from")
    backdate_reason = (backdate_reason or "").strip()
    if effective_from < now and not backdate_reason:
        raise ValidationFailed(
            "The effective date is in the past: give a backdating reason (usage since then will be re-rated).",
            field="backdate_reason",
            code="backdate_reason_required",
        )
    rates = list(version.rates.prefetch_related("tiers"))
    if not rates:
        raise ValidationFailed("A version needs at least one rate.", code="empty_version")
    for rate in rates:
        if rate.pricing_model in TIERED_MODELS:
            try:
                validate_tiers(tuple(TierSpec(t.up_to, t.unit_price, t.flat_fee) for t in rate.tiers.all()))
            except PricingError as exc:
                raise ValidationFailed(f"{rate.meter.code}: {exc}", code="invalid_tiers") from None
    if version.grandfather_until is not None and version.grandfather_until <= effective_from:
        raise ValidationFailed(
            "The date grandfathered contracts move is not after the effective date: move it or clear it.",
            field="effective_from",
            code="grandfather_before_effective",
        )
    from_status = version.status
    version.effective_from = effective_from
    _check_effective_from_free(version)
    version.reason = reason
    version.backdate_reason = backdate_reason if effective_from < now else ""
    version.status = S.PENDING_APPROVAL
    version.submitted_by = actor.user
    version.submitted_at = now
    version.content_hash = version_content_hash(version)
    _save_with_reason(version, "submitted")
    _record_contributor(version.id, actor)
    _decide(
        version,
        action=ApprovalDecision.Action.SUBMIT,
        actor=actor,
        from_status=from_status,
        comment=reason + (f"\nBackdated: {backdate_reason}" if version.backdate_reason else ""),
        at=now,
    )
    return version


@transaction.atomic
def rate_table_version_withdraw(*, version_id: int, actor: Actor, comment: str = "") -> RateTableVersion:
    _require(actor, Cap.CATALOG_EDIT)
    version = _lock_version(version_id)
    if version.status != S.PENDING_APPROVAL:
        raise InvalidTransition("Only a version pending approval can be withdrawn.")
    version.status = S.DRAFT
    version.content_hash = ""
    _save_with_reason(version, "withdrawn")
    _decide(
        version, action=ApprovalDecision.Action.WITHDRAW, actor=actor, from_status=S.PENDING_APPROVAL, comment=comment
    )
    return version


@transaction.atomic
def rate_table_version_discard(*, version_id: int, actor: Actor, comment: str = "") -> RateTableVersion:
    _require(actor, Cap.CATALOG_EDIT)
    version = _lock_version(version_id)
    if version.status not in EDITABLE:
        raise InvalidTransition("Only drafts can be discarded.")
    from_status = version.status
    version.status = S.DISCARDED
    _save_with_reason(version, "discarded")
    _decide(version, action=ApprovalDecision.Action.DISCARD, actor=actor, from_status=from_status, comment=comment)
    return version


def _lock_for_review(version_id: int, actor: Actor) -> RateTableVersion:
    if actor.user is None:
        raise Forbidden("Only a person can review a price change.")
    if not user_can(actor.user, Cap.RATES_APPROVE):
        raise Forbidden("Only finance approvers review price changes.")
    version = _lock_version(version_id)
    if version.status != S.PENDING_APPROVAL:
        raise InvalidTransition(
            f"Version {version.number} is {version.get_status_display().lower()}, not pending approval."
        )
    if actor.user.pk in version_contributor_ids(version):
        raise FourEyesViolation(
            "You created, edited or submitted this change, so someone else must review it (four-eyes rule)."
        )
    return version


@transaction.atomic
def rate_table_version_approve(
    *, version_id: int, content_hash: str, actor: Actor, comment: str = "", now: datetime | None = None
) -> RateTableVersion:
    now = now or timezone.now()
    version = _lock_for_review(version_id, actor)
    current = version_content_hash(version)
    if content_hash != version.content_hash or current != version.content_hash:
        raise Conflict(
            "The content changed since it was submitted; reload the review before approving.", code="content_changed"
        )
    backdated = version.effective_from < now
    if backdated and not version.backdate_reason:
        raise ValidationFailed(
            "The effective date has passed since submission. Request changes so the maker "
            "sets a new date or gives a backdating reason.",
            code="effective_from_passed",
        )
    _check_effective_from_free(version)
    version.status = S.APPROVED
    version.decided_by = actor.user
    version.decided_at = now
    _save_with_reason(version, "approved")
    _decide(
        version,
        action=ApprovalDecision.Action.APPROVE,
        actor=actor,
        from_status=S.PENDING_APPROVAL,
        comment=comment,
        at=now,
    )
    payload = {
        "version_id": version.id,
        "rate_table_id": version.rate_table_id,
        "effective_from": version.effective_from,
        "backdated": backdated,
    }
    transaction.on_commit(lambda: rate_table_version_approved.send(sender=RateTableVersion, **payload))
    return version


def _review_with_comment(version_id: int, actor: Actor, comment: str, to_status: str, action: str):
    comment = (comment or "").strip()
    if not comment:
        raise ValidationFailed("A comment is required: tell the maker what to change or why.", field="comment")
    version = _lock_for_review(version_id, actor)
    version.status = to_status
    version.decided_by = actor.user
    version.decided_at = timezone.now()
    if to_status == S.CHANGES_REQUESTED:
        version.content_hash = ""
    _save_with_reason(version, action)
    _decide(version, action=action, actor=actor, from_status=S.PENDING_APPROVAL, comment=comment)
    return version


@transaction.atomic
def rate_table_version_request_changes(*, version_id: int, comment: str, actor: Actor) -> RateTableVersion:
    return _review_with_comment(
        version_id, actor, comment, S.CHANGES_REQUESTED, ApprovalDecision.Action.REQUEST_CHANGES
    )


@transaction.atomic
def rate_table_version_reject(*, version_id: int, comment: str, actor: Actor) -> RateTableVersion:
    return _review_with_comment(version_id, actor, comment, S.REJECTED, ApprovalDecision.Action.REJECT)


# ---- rollback and simulation ----------------------------------------------------------------------


@transaction.atomic
def rate_table_version_revert(*, version_id: int, actor: Actor, now: datetime | None = None) -> RateTableVersion:
    """Rollback: a new draft copying an earlier approved version, its reason prefilled ("Revert to vN"). It goes
    through the same review as any draft; nothing approved is ever edited in place."""
    _require(actor, Cap.CATALOG_EDIT)
    source = RateTableVersion.objects.filter(pk=version_id).first()
    if source is None:
        raise NotFound("No such rate table version.")
    if source.status != S.APPROVED:
        raise InvalidTransition(
            f"Only an approved version can be reverted to; v{source.number} is {source.get_status_display().lower()}."
        )
    table = _lock_table_without_open_version(source.rate_table_id)
    number = (table.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    reason = f"Revert to v{source.number}"
    draft = RateTableVersion(
        rate_table=table,
        number=number,
        status=S.DRAFT,
        based_on=source,
        reverts_to=source,
        reason=reason,
        created_by=actor.user,
    )
    _save_with_reason(draft, reason.lower())
    _copy_rates(source, draft)
    _record_contributor(draft.id, actor)
    _decide(draft, action=ApprovalDecision.Action.CREATE, actor=actor, from_status="", comment=reason, at=now)
    return draft


def rate_table_version_shadow_approve(*, version_id: int, effective_from: datetime) -> None:
    """FOR SIMULATION ONLY: mark a draft or pending version approved from `effective_from`, bypassing the review,
    so the real rating engine prices with it. Refused outside a transaction: the caller (usage's shadow rating)
    always rolls that transaction back, so no other connection ever sees it (READ COMMITTED) and nothing of it
    stays. No decision, no history, no signal is written (a queryset update)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("a shadow approval must run inside a transaction that is rolled back")
    version = _lock_version(version_id)
    if version.status not in OPEN:
        raise InvalidTransition(
            f"Only drafts and versions pending approval can be simulated; v{version.number} is "
            f"{version.get_status_display().lower()}."
        )
    version.effective_from = effective_from
    try:
        _check_effective_from_free(version)
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"{exc.message.split(';')[0]} ({effective_from:%Y-%m-%d %H:%M} UTC), where the simulated range starts: "
            "choose another first day.",
            field="start",
            code="effective_from_taken",
        ) from None
    RateTableVersion.objects.filter(pk=version.pk).update(status=S.APPROVED, effective_from=effective_from)
