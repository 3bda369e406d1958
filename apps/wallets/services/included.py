"""Wallet writes: the included credits a contract issues each period (the rules in .ledger's docstring apply)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from apps.contracts.selectors import contracts_including_credits
from apps.core.actors import SYSTEM, Actor
from apps.core.errors import ValidationFailed
from apps.core.money import ZERO, to_decimal

from ..models import CreditGrant, LedgerEntry
from .ledger import _aware, _credits, _existing_entry, _grant, _lock_wallet

INCLUDED_PRIORITY = 0  # included credits draw before any other grant (others default to 100)


def included_key(*, contract_id: int, period_start: datetime) -> str:
    return f"included:contract:{contract_id}:{period_start.astimezone(UTC):%Y-%m-%dT%H:%M:%S}"


@transaction.atomic
def included_credits_issue(
    *,
    customer_id: int,
    contract_id: int,
    amount: Decimal,
    period_start: datetime,
    period_end: datetime,
    actor: Actor = SYSTEM,
) -> CreditGrant | None:
    """The contract's included credits for one billing period: a grant of kind `included`, effective at the
    period's start, expiring at its end (unused credits lapse: no rollover), priced at zero per credit (their
    revenue is the base fee), drawn before every other grant. Idempotent per contract period: issuing again
    returns the grant already issued. Returns None when the contract includes no credits."""
    period_start = _aware(period_start, field="period_start")
    period_end = _aware(period_end, field="period_end")
    if period_end <= period_start:
        raise ValidationFailed("The period must end after it starts.", field="period_end")
    key = included_key(contract_id=contract_id, period_start=period_start)
    existing = LedgerEntry.objects.filter(idempotency_key=key).select_related("grant").first()
    if existing is not None:
        return existing.grant
    amount = to_decimal(amount, field="amount")
    if amount <= 0:
        return None
    amount = _credits(amount)
    wallet = _lock_wallet(customer_id=customer_id)
    existing = _existing_entry(key, wallet=wallet, entry_type=LedgerEntry.EntryType.GRANT)
    if existing is not None:
        return existing.grant
    return _grant(
        wallet=wallet,
        kind=CreditGrant.Kind.INCLUDED,
        amount=amount,
        priority=INCLUDED_PRIORITY,
        effective_at=period_start,
        expires_at=period_end,
        price_per_credit=ZERO,
        reason_code="included",
        reference=f"contract #{contract_id}",
        note=f"included credits for the period {period_start:%Y-%m-%d} to {period_end:%Y-%m-%d} "
        "(lapse at the period's end)",
        key=key,
        actor=actor,
        source=CreditGrant.Source.DIRECT,
    )


def included_credits_issue_due(*, now: datetime | None = None) -> int:
    """Beat: issue the current period's included credits of every contract in force that includes credits
    (prepaid and hybrid). Idempotent; returns the number of grants that exist for the current periods."""
    now = _aware(now, field="now") or timezone.now()
    count = 0
    for terms in contracts_including_credits(at=now):
        start, end = terms.billing_period(now)
        if (
            included_credits_issue(
                customer_id=terms.customer_id,
                contract_id=terms.id,
                amount=terms.included_credits,
                period_start=start,
                period_end=end,
                actor=SYSTEM,
            )
            is not None
        ):
            count += 1
    return count
