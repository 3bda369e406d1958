"""Period-close writes: close a month (freeze its statements under a content hash), ask to reopen it (with a
reason), and approve or decline that (a second finance user: four-eyes). Every step is recorded (PeriodAction)."""

from __future__ import annotations

from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.errors import Conflict, Forbidden, FourEyesViolation, NotFound, ValidationFailed
from apps.core.permissions import user_can
from apps.core.roles import Cap

from .models import ClosedPeriod, FrozenLine, FrozenStatement, PeriodAction, ReopenRequest
from .selectors import close_in_force, closes_in_force, live_statements, month_has_ended
from .statements import LINE_FIELDS, month_label, next_month, period_hash


def _finance(actor: Actor) -> None:
    if actor.user is None or not user_can(actor.user, Cap.PERIODS_CLOSE):
        raise Forbidden("Only finance can close or reopen a period.", code="permission_denied")


def _record(period: ClosedPeriod, action: str, actor: Actor, at: datetime, reason: str = "") -> None:
    PeriodAction.objects.create(
        month=period.month,
        period=period,
        action=action,
        actor=actor.user,
        reason=reason,
        content_hash=period.content_hash,
        at=at,
    )


@transaction.atomic
def period_close(*, month: date, actor: Actor, now: datetime | None = None) -> ClosedPeriod:
    """Freeze the month's statements (every customer with something to bill) under a content hash. Only a month
    that has ended, in order (the month after the latest closed one), by finance."""
    now = now or timezone.now()
    _finance(actor)
    if not month_has_ended(month, now):
        raise ValidationFailed(
            f"{month_label(month)} has not ended yet; a month can be closed from the 1st of the next month.",
            code="period_not_ended",
        )
    closes = closes_in_force()
    if month in closes:
        raise Conflict(f"{month_label(month)} is already closed.", code="period_closed")
    if closes and month != next_month(max(closes)):
        expected = month_label(next_month(max(closes)))
        raise Conflict(
            f"Months close in order: the next month to close is {expected}.",
            code="close_out_of_order",
            extra={"next": expected},
        )
    statements = live_statements(month=month)
    try:
        with transaction.atomic():
            period = ClosedPeriod.objects.create(
                month=month,
                content_hash=period_hash(statements),
                statements_count=len(statements),
                closed_by=actor.user,
                closed_at=now,
            )
    except IntegrityError:
        raise Conflict(f"{month_label(month)} was closed meanwhile.", code="period_closed") from None
    frozen = FrozenStatement.objects.bulk_create(  # ids come back (PostgreSQL, SQLite): the lines need them
        FrozenStatement(
            period=period,
            customer_id=st.customer_id,
            customer_external_id=st.customer_external_id,
            customer_name=st.customer_name,
            currency=st.currency,
            amount_due=st.amount_due,
            content_hash=st.content_hash,
        )
        for st in statements
    )
    FrozenLine.objects.bulk_create(
        FrozenLine(statement=fs, position=i, **{name: getattr(ln, name) for name in LINE_FIELDS})
        for fs, st in zip(frozen, statements, strict=True)
        for i, ln in enumerate(st.lines)
    )
    _record(period, PeriodAction.Action.CLOSE, actor, now)
    return period


@transaction.atomic
def period_reopen_request(*, month: date, reason: str, actor: Actor, now: datetime | None = None) -> ReopenRequest:
    """Ask to reopen a closed month, saying why; another finance user decides. Only the latest closed month can be
    reopened (later months carry its late adjustments)."""
    now = now or timezone.now()
    _finance(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the period must be reopened.", code="reason_required", field="reason")
    closes = closes_in_force()
    period = closes.get(month)
    if period is None:
        raise Conflict(f"{month_label(month)} is not closed.", code="period_not_closed")
    if month != max(closes):
        raise Conflict(
            f"Reopen {month_label(max(closes))} first: only the latest closed month can be reopened.",
            code="reopen_out_of_order",
        )
    period = ClosedPeriod.objects.select_for_update().get(pk=period.pk)
    if ReopenRequest.objects.filter(period=period, status=ReopenRequest.Status.PENDING).exists():
        raise Conflict("A request to reopen this period is already waiting for approval.", code="reopen_pending")
    request = ReopenRequest.objects.create(period=period, reason=reason, requested_by=actor.user, requested_at=now)
    _record(period, PeriodAction.Action.REOPEN_REQUEST, actor, now, reason)
    return request


def _lock_pending(request_id: int, actor: Actor) -> ReopenRequest:
    _finance(actor)
    request = ReopenRequest.objects.select_for_update().select_related("period").filter(pk=request_id).first()
    if request is None:
        raise NotFound("No such reopen request.", code="not_found")
    if request.status != ReopenRequest.Status.PENDING:
        raise Conflict(f"This request was already {request.get_status_display().lower()}.", code="already_decided")
    return request


@transaction.atomic
def period_reopen_approve(
    *, request_id: int, actor: Actor, comment: str = "", now: datetime | None = None
) -> ClosedPeriod:
    """A second finance user approves: the month opens again (its frozen statements stay, as history; closing it
    again freezes new ones). The requester can never approve their own request."""
    now = now or timezone.now()
    request = _lock_pending(request_id, actor)
    if request.requested_by_id == actor.user.pk:
        raise FourEyesViolation("A second finance approver must approve reopening: not the requester.")
    period = ClosedPeriod.objects.select_for_update().get(pk=request.period_id)
    latest = close_in_force(month=period.month)
    closes = closes_in_force()
    if latest is None or latest.pk != period.pk or period.month != max(closes):
        raise Conflict("Only the latest closed month can be reopened.", code="reopen_out_of_order")
    request.status = ReopenRequest.Status.APPROVED
    request.decided_by = actor.user
    request.decided_at = now
    request.comment = (comment or "").strip()
    request.save(update_fields=["status", "decided_by", "decided_at", "comment"])
    period.status = ClosedPeriod.Status.REOPENED
    period.reopened_at = now
    period.save(update_fields=["status", "reopened_at"])
    _record(period, PeriodAction.Action.REOPEN_APPROVE, actor, now, request.reason)
    return period


@transaction.atomic
def period_reopen_decline(
    *, request_id: int, actor: Actor, comment: str = "", now: datetime | None = None
) -> ReopenRequest:
    """Decline (or, by the requester, withdraw) a request to reopen: the month stays closed."""
    now = now or timezone.now()
    request = _lock_pending(request_id, actor)
    request.status = ReopenRequest.Status.DECLINED
    request.decided_by = actor.user
    request.decided_at = now
    request.comment = (comment or "").strip()
    request.save(update_fields=["status", "decided_by", "decided_at", "comment"])
    _record(request.period, PeriodAction.Action.REOPEN_DECLINE, actor, now, request.comment)
    return request
