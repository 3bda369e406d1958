"""Support credits: granted at once within the caps, otherwise a CreditRequest that a finance approver decides
(four-eyes). The same rules as .ledger (keyword-only, atomic, idempotent by key, wallet locked first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.errors import Conflict, Forbidden, FourEyesViolation, InvalidTransition, NotFound, ValidationFailed
from apps.core.history import stamp_history
from apps.core.money import ZERO, to_decimal

from ..models import CreditGrant, CreditReason, CreditRequest, LedgerEntry, Wallet
from .ledger import SUPPORT_KINDS, CreditIssueResult, _aware, _credits, _grant, _key, _lock_wallet, decimal_sum


def support_caps() -> tuple[Decimal, Decimal]:
    conf = settings.RATEDESK
    return (
        to_decimal(conf["SUPPORT_CREDIT_CAP_PER_GRANT"], field="SUPPORT_CREDIT_CAP_PER_GRANT"),
        to_decimal(conf["SUPPORT_CREDIT_CAP_PER_CUSTOMER_MONTH"], field="SUPPORT_CREDIT_CAP_PER_CUSTOMER_MONTH"),
    )


def support_credited_this_month(*, wallet_id: int, now: datetime) -> Decimal:
    """Support and approved-request credits granted to the wallet since the start of the (UTC) month, not voided."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return decimal_sum(
        CreditGrant.objects.filter(
            wallet_id=wallet_id,
            created_at__gte=start,
            voided_at__isnull=True,
            source__in=[CreditGrant.Source.SUPPORT, CreditGrant.Source.REQUEST],
        ),
        "amount",
    )


def _issue_key(idempotency_key: str) -> str:
    return f"credit:{_key(idempotency_key)}"


def _replay_issue(key: str, *, wallet: Wallet, amount: Decimal) -> CreditIssueResult | None:
    entry = LedgerEntry.objects.filter(idempotency_key=key).select_related("grant").first()
    request = None if entry else CreditRequest.objects.filter(idempotency_key=key).select_related("grant").first()
    if entry is None and request is None:
        return None
    wallet_id = entry.wallet_id if entry else request.wallet_id
    first_amount = entry.grant.amount if entry and entry.grant_id else (request.amount if request else None)
    if wallet_id != wallet.pk or first_amount != amount:
        raise Conflict(
            "This idempotency key was already used for a different credit.",
            code="idempotency_conflict",
            field="idempotency_key",
        )
    if entry is not None:
        return CreditIssueResult(grant=entry.grant, request=None, status="issued", replayed=True)
    return CreditIssueResult(grant=request.grant, request=request, status="pending", replayed=True)


@transaction.atomic
def credit_issue(
    *,
    customer_id: int,
    amount: Decimal,
    kind: str = CreditGrant.Kind.SUPPORT,
    reason_code: str,
    reference: str = "",
    expires_at: datetime | None = None,
    note: str = "",
    idempotency_key: str,
    actor: Actor,
    now: datetime | None = None,
) -> CreditIssueResult:
    """A support credit. Within the caps (per grant, and per customer per calendar month, UTC) it is granted at
    once; above either cap it becomes a pending CreditRequest for a finance approver."""
    key = _issue_key(idempotency_key)
    if kind not in SUPPORT_KINDS:
        raise ValidationFailed("Support credits are of kind support or promotional.", field="kind")
    if reason_code not in CreditReason.values:
        raise ValidationFailed("Choose a reason: " + ", ".join(CreditReason.labels).lower() + ".", field="reason_code")
    amount = _credits(amount)
    now = _aware(now, field="now") or timezone.now()
    if expires_at is None:
        expires_at = now + timedelta(days=int(settings.RATEDESK["SUPPORT_CREDIT_DEFAULT_EXPIRY_DAYS"]))
    expires_at = _aware(expires_at, field="expires_at")
    reference = (reference or "").strip()
    if len(reference) > 120:
        raise ValidationFailed("The reference is at most 120 characters.", field="reference")
    note = (note or "").strip()
    if reason_code == CreditReason.OTHER and not note:
        raise ValidationFailed("Reason 'other' needs a note saying why.", field="note")

    wallet = _lock_wallet(customer_id=customer_id)  # serializes the monthly cap check per customer
    replay = _replay_issue(key, wallet=wallet, amount=amount)
    if replay is not None:
        return replay
    if expires_at <= now:
        raise ValidationFailed("The expiry must be in the future.", field="expires_at")

    per_grant, per_month = support_caps()
    month_total = support_credited_this_month(wallet_id=wallet.pk, now=now)
    if amount > per_grant or month_total + amount > per_month:
        request = CreditRequest(
            wallet=wallet,
            amount=amount,
            kind=kind,
            reason_code=reason_code,
            reference=reference,
            expires_at=expires_at,
            note=note,
            idempotency_key=key,
            requested_by=actor.user,
            requested_by_api_key=actor.api_key,
        )
        stamp_history(
            request,
            actor=actor,
            reason=("above the per-grant cap" if amount > per_grant else "above the monthly cap for this customer"),
        )
        request.save()
        return CreditIssueResult(grant=None, request=request, status="pending")
    grant = _grant(
        wallet=wallet,
        kind=kind,
        amount=amount,
        priority=100,
        effective_at=now,
        expires_at=expires_at,
        price_per_credit=ZERO,
        reason_code=reason_code,
        reference=reference,
        note=note,
        key=key,
        actor=actor,
        source=CreditGrant.Source.SUPPORT,
    )
    return CreditIssueResult(grant=grant, request=None, status="issued")


def _decide_guard(*, request_id: int, actor: Actor) -> tuple[Wallet, CreditRequest]:
    wallet_id = CreditRequest.objects.filter(pk=request_id).values_list("wallet_id", flat=True).first()
    if wallet_id is None:
        raise NotFound("No such credit request.")
    wallet = Wallet.objects.select_for_update().get(pk=wallet_id)
    request = CreditRequest.objects.select_for_update().get(pk=request_id)
    if actor.user is None:
        raise Forbidden("A person must decide credit requests.", code="person_required")
    if request.requested_by_id is not None and request.requested_by_id == actor.user.pk:
        raise FourEyesViolation("You requested this credit, so someone else must decide it (four-eyes rule).")
    if request.status != CreditRequest.Status.PENDING:
        raise InvalidTransition(f"This request was already {request.get_status_display().lower()}.")
    return wallet, request


@transaction.atomic
def credit_request_approve(*, request_id: int, actor: Actor, comment: str = "") -> CreditRequest:
    wallet, request = _decide_guard(request_id=request_id, actor=actor)
    now = timezone.now()
    if request.expires_at is not None and request.expires_at <= now:
        raise Conflict(
            "The requested expiry has passed; reject this request and ask for a new one.", code="expiry_passed"
        )
    request.grant = _grant(
        wallet=wallet,
        kind=request.kind,
        amount=request.amount,
        priority=100,
        effective_at=now,
        expires_at=request.expires_at,
        price_per_credit=ZERO,
        reason_code=request.reason_code,
        reference=request.reference,
        note=request.note,
        key=f"credit-request:{request.pk}:grant",
        actor=actor,
        source=CreditGrant.Source.REQUEST,
        created_by=request.requested_by,
    )
    request.status = CreditRequest.Status.APPROVED
    request.decided_by, request.decided_at = actor.user, now
    request.decision_comment = (comment or "").strip()
    stamp_history(request, actor=actor, reason="approved")
    request.save()
    return request


@transaction.atomic
def credit_request_reject(*, request_id: int, actor: Actor, comment: str) -> CreditRequest:
    comment = (comment or "").strip()
    if not comment:
        raise ValidationFailed("Say why the request is rejected; the requester sees the comment.", field="comment")
    _, request = _decide_guard(request_id=request_id, actor=actor)
    request.status = CreditRequest.Status.REJECTED
    request.decided_by, request.decided_at = actor.user, timezone.now()
    request.decision_comment = comment
    stamp_history(request, actor=actor, reason="rejected")
    request.save()
    return request
