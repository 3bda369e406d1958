"""Wallet reads of credit requests and support activity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ..models import CreditGrant, CreditRequest

# --- credit requests and support activity ---------------------------------------------------------------------


def credit_requests_pending() -> list[CreditRequest]:
    return list(
        CreditRequest.objects.filter(status=CreditRequest.Status.PENDING)
        .select_related("wallet__customer", "requested_by", "requested_by_api_key")
        .order_by("requested_at", "id")
    )


def credit_requests_pending_count() -> int:
    return CreditRequest.objects.filter(status=CreditRequest.Status.PENDING).count()


def credit_requests_decided(*, limit: int = 20) -> list[CreditRequest]:
    return list(
        CreditRequest.objects.exclude(status=CreditRequest.Status.PENDING)
        .select_related("wallet__customer", "requested_by", "decided_by", "grant")
        .order_by("-decided_at", "-id")[:limit]
    )


def credit_request_get(*, request_id: int) -> CreditRequest | None:
    return (
        CreditRequest.objects.select_related("wallet__customer", "requested_by", "decided_by", "grant")
        .filter(pk=request_id)
        .first()
    )


@dataclass(frozen=True)
class ActivityRow:
    at: datetime
    customer_id: int
    customer_name: str
    customer_external_id: str
    amount: Decimal
    kind: str
    reason_code: str
    reference: str
    note: str
    by: str
    status: str  # issued | pending | approved | rejected | voided
    decided_by: str
    decision_comment: str
    grant_id: int | None
    request_id: int | None


def support_activity(
    *, customer_id: int | None = None, requested_by_id: int | None = None, status: str = "", limit: int = 200
) -> list[ActivityRow]:
    """Credits issued by support (within the caps) and credit requests (pending, approved, rejected), newest first."""
    grants = (
        CreditGrant.objects.filter(source=CreditGrant.Source.SUPPORT)
        .select_related("wallet__customer", "created_by")
        .order_by("-created_at", "-id")
    )
    requests = CreditRequest.objects.select_related(
        "wallet__customer", "requested_by", "requested_by_api_key", "decided_by", "grant"
    ).order_by("-requested_at", "-id")
    if customer_id is not None:
        grants = grants.filter(wallet__customer_id=customer_id)
        requests = requests.filter(wallet__customer_id=customer_id)
    if requested_by_id is not None:
        grants = grants.filter(created_by_id=requested_by_id)
        requests = requests.filter(requested_by_id=requested_by_id)
    if status:
        if status in ("issued", "voided"):
            grants = grants.filter(voided_at__isnull=(status == "issued"))
            requests = requests.none()
        else:
            grants = grants.none()
            requests = requests.filter(status=status)
    rows = []
    for g in grants[:limit]:
        customer = g.wallet.customer
        rows.append(
            ActivityRow(
                at=g.effective_at,
                customer_id=customer.pk,
                customer_name=customer.name,
                customer_external_id=customer.external_id,
                amount=g.amount,
                kind=g.kind,
                reason_code=g.reason_code,
                reference=g.reference,
                note=g.note,
                by=g.created_by.username if g.created_by_id else "api",
                status="voided" if g.voided_at else "issued",
                decided_by="",
                decision_comment="",
                grant_id=g.pk,
                request_id=None,
            )
        )
    for r in requests[:limit]:
        customer = r.wallet.customer
        by = (
            r.requested_by.username
            if r.requested_by_id
            else (f"api key {r.requested_by_api_key.prefix}" if r.requested_by_api_key_id else "system")
        )
        rows.append(
            ActivityRow(
                at=r.requested_at,
                customer_id=customer.pk,
                customer_name=customer.name,
                customer_external_id=customer.external_id,
                amount=r.amount,
                kind=r.kind,
                reason_code=r.reason_code,
                reference=r.reference,
                note=r.note,
                by=by,
                status=r.status,
                decided_by=r.decided_by.username if r.decided_by_id else "",
                decision_comment=r.decision_comment,
                grant_id=r.grant_id,
                request_id=r.pk,
            )
        )
    rows.sort(key=lambda row: row.at, reverse=True)
    return rows[:limit]
