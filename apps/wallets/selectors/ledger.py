"""Wallet reads of the ledger: entries, running balances, conservation and give-backs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet

from apps.core.money import ZERO

from ..models import CreditGrant, LedgerEntry, Wallet
from ..services import decimal_sum, decimal_sums_by
from .balances import wallet_of

# --- ledger --------------------------------------------------------------------------------------------------

LEDGER_ORDER = ("-effective_at", "-id")  # newest first by when the movement happened (ties: written last first)


def ledger_entries(*, customer_id: int, entry_type: str = "", limit: int | None = None) -> QuerySet[LedgerEntry]:
    """The wallet's ledger, newest first by effective time (when the movement happened: a debit at its usage's
    instant, a grant when it became effective, an expiry at the expiry instant). Pair with `with_running_balance`
    for the balance in that same order."""
    wallet_id = Wallet.objects.filter(customer_id=customer_id).values_list("id", flat=True).first()
    qs = (
        LedgerEntry.objects.filter(wallet_id=wallet_id)
        .select_related("grant", "actor_user", "actor_api_key", "reverses")
        .prefetch_related("allocations__grant")
        .order_by(*LEDGER_ORDER)
    )
    if entry_type:
        qs = qs.filter(entry_type=entry_type)
    return qs[:limit] if limit else qs


def with_running_balance(entries) -> list[LedgerEntry]:
    """Set `running_balance` on each entry (newest first, as ledger_entries orders them): the wallet's balance
    after that entry, counting every entry of the wallet (of any type) in effective-time order. It reads
    consistently down the page, unlike `balance_after`, which follows the order the entries were written."""
    entries = list(entries)
    if not entries:
        return entries
    wallet_id = entries[0].wallet_id
    oldest, newest = entries[-1], entries[0]
    before_oldest = Q(effective_at__lt=oldest.effective_at) | Q(effective_at=oldest.effective_at, id__lt=oldest.id)
    balance = decimal_sum(LedgerEntry.objects.filter(before_oldest, wallet_id=wallet_id), "amount")
    span = (
        LedgerEntry.objects.filter(wallet_id=wallet_id)
        .exclude(before_oldest)
        .filter(Q(effective_at__lt=newest.effective_at) | Q(effective_at=newest.effective_at, id__lte=newest.id))
        .order_by("effective_at", "id")
        .values_list("id", "amount")
    )
    running: dict[int, Decimal] = {}
    for entry_id, amount in span:
        balance += amount
        running[entry_id] = balance
    for entry in entries:
        entry.running_balance = running.get(entry.pk, entry.balance_after)
    return entries


@dataclass(frozen=True)
class Conservation:
    granted: Decimal
    debited: Decimal  # net of reversals
    expired: Decimal
    voided: Decimal
    balance: Decimal
    sum_remaining: Decimal

    @property
    def holds(self) -> bool:
        return (
            self.granted - self.debited - self.expired - self.voided == self.balance == self.sum_remaining
            and self.balance >= 0
        )


def wallet_conservation(*, customer_id: int) -> Conservation:
    """granted - debited - expired - voided == balance == sum(remaining): the wallet invariant, recomputed."""
    wallet = wallet_of(customer_id=customer_id)
    if wallet is None:
        return Conservation(ZERO, ZERO, ZERO, ZERO, ZERO, ZERO)
    sums = decimal_sums_by(LedgerEntry.objects.filter(wallet=wallet), "entry_type", "amount")
    t = LedgerEntry.EntryType
    remaining = decimal_sum(CreditGrant.objects.filter(wallet=wallet), "remaining")
    return Conservation(
        granted=sums.get(t.GRANT) or ZERO,
        debited=-((sums.get(t.DEBIT) or ZERO) + (sums.get(t.REVERSAL) or ZERO)),
        expired=-(sums.get(t.EXPIRY) or ZERO),
        voided=-(sums.get(t.VOID) or ZERO),
        balance=wallet.balance,
        sum_remaining=remaining,
    )


def recent_give_backs(*, customer_id: int, limit: int = 5) -> list[LedgerEntry]:
    """The latest give-backs (reversal entries) with the grants the credits went back to."""
    return list(
        LedgerEntry.objects.filter(wallet__customer_id=customer_id, entry_type=LedgerEntry.EntryType.REVERSAL)
        .prefetch_related("allocations__grant")
        .order_by("-effective_at", "-id")[:limit]
    )


def ledger_keys_used(*, keys: Iterable[str]) -> set[str]:
    """Which of these idempotency keys the ledger already holds (one query)."""
    keys = list(keys)
    if not keys:
        return set()
    return set(LedgerEntry.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
