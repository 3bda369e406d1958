"""Wallet reads over many customers or many days: balances, runways, daily balances and draws."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import models
from django.db.models import Case, F, Q, Sum, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.core.money import DECIMAL_PLACES, MAX_DIGITS, ZERO, quantize_rated

from ..models import CreditGrant, LedgerAllocation, LedgerEntry, Wallet
from ..services import decimal_sum, decimal_sums_by
from .balances import RUNWAY_BASIS_DAYS, GrantView, RunwayGrant, RunwayView, grant_view, project_runway


def customer_balances(*, customer_ids) -> dict[int, Decimal]:
    """Balances of many customers in one query (for lists)."""
    return dict(Wallet.objects.filter(customer_id__in=list(customer_ids)).values_list("customer_id", "balance"))


def wallet_runways(*, customer_ids, now: datetime | None = None) -> dict[int, RunwayView]:
    """`wallet_runway` for many customers in three queries (same burn and projection); no wallet: left out."""
    now = now or timezone.now()
    wallets = {
        w.pk: w
        for w in Wallet.objects.filter(customer_id__in=list(set(customer_ids))).only("id", "customer_id", "balance")
    }
    if not wallets:
        return {}
    since = now - timedelta(days=RUNWAY_BASIS_DAYS)
    burnt = decimal_sums_by(
        LedgerEntry.objects.filter(
            wallet_id__in=list(wallets),
            effective_at__gt=since,
            effective_at__lte=now,
            entry_type__in=[LedgerEntry.EntryType.DEBIT, LedgerEntry.EntryType.REVERSAL],
        ),
        "wallet_id",
        "amount",
    )
    grants: dict[int, list[RunwayGrant]] = {}
    for g in CreditGrant.objects.filter(
        wallet_id__in=list(wallets), remaining__gt=0, expired_at__isnull=True, voided_at__isnull=True
    ):
        grants.setdefault(g.wallet_id, []).append(
            RunwayGrant(
                remaining=g.remaining,
                priority=g.priority,
                effective_at=g.effective_at,
                expires_at=g.expires_at,
                price_per_credit=g.price_per_credit,
                created_at=g.created_at,
                id=g.pk,
            )
        )
    result = {}
    for wallet_id, wallet in wallets.items():
        burn = quantize_rated(max(-(burnt.get(wallet_id) or ZERO), ZERO) / Decimal(RUNWAY_BASIS_DAYS))
        at, lost = project_runway(grants=grants.get(wallet_id, []), burn_per_day=burn, now=now)
        days_left = (
            None if at is None else (Decimal((at - now).total_seconds()) / Decimal(86400)).quantize(Decimal("0.1"))
        )
        result[wallet.customer_id] = RunwayView(
            burn_per_day=burn,
            runs_out_on=at.date() if at else None,
            days_left=days_left,
            balance=wallet.balance,
            runs_out_at=at,
            expiring_before_run_out=lost,
        )
    return result


def wallet_runway(*, customer_id: int, now: datetime | None = None) -> RunwayView:
    """One customer's runway: `wallet_runways` for one (no wallet: nothing to burn, no run-out)."""
    runway = wallet_runways(customer_ids=[customer_id], now=now).get(customer_id)
    return runway or RunwayView(burn_per_day=ZERO, runs_out_on=None, days_left=None, balance=ZERO)


@dataclass(frozen=True)
class DailyBalances:
    balance: Decimal  # now
    opening: Decimal  # before `start`
    net_by_day: dict  # UTC day -> net ledger movement that day


def wallet_balances_by_day(*, customer_id: int, start: datetime, end: datetime) -> DailyBalances | None:
    """The ledger's net movement per UTC day in [start, end) and the balance before it (two queries); None
    without a wallet."""
    wallet = Wallet.objects.filter(customer_id=customer_id).only("id", "balance").first()
    if wallet is None:
        return None
    entries = LedgerEntry.objects.filter(wallet_id=wallet.pk)
    opening = decimal_sum(entries.filter(effective_at__lt=start), "amount")
    rows = (
        entries.filter(effective_at__gte=start, effective_at__lt=end)
        .annotate(d=TruncDate("effective_at", tzinfo=UTC))
        .values("d")
        .annotate(total=Sum("amount"))
    )
    return DailyBalances(wallet.balance, opening, {r["d"]: r["total"] or ZERO for r in rows})


@dataclass(frozen=True)
class DailyDraws:
    day: date
    paid_credits: Decimal
    free_credits: Decimal
    paid_revenue: Decimal  # what the paid credits drawn were paid for (free credits carry none)


def _draws(customer_ids, start: datetime, end: datetime):
    """Allocations of debits and give-backs effective in [start, end), with free/paid/revenue sums to group."""
    free = Q(grant__price_per_credit=0)
    amount = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)
    rows = LedgerAllocation.objects.filter(
        entry__wallet__customer_id__in=list(customer_ids),
        entry__entry_type__in=[LedgerEntry.EntryType.DEBIT, LedgerEntry.EntryType.REVERSAL],
        entry__effective_at__gte=start,
        entry__effective_at__lt=end,
    )
    sums = {
        "free": Sum(Case(When(free, then="amount"), default=0, output_field=amount)),
        "paid": Sum(Case(When(~free, then="amount"), default=0, output_field=amount)),
        "revenue": Sum("revenue"),
    }
    return rows, sums


def _draw(day, row) -> DailyDraws:
    # allocations are signed like their entries (a debit takes: negative) but carry revenue positive for a debit
    return DailyDraws(day, -(row["paid"] or ZERO), -(row["free"] or ZERO), row["revenue"] or ZERO)


def wallet_draws_by_day(*, customer_id: int, start: datetime, end: datetime) -> dict[date, DailyDraws]:
    """Credits drawn per UTC day in [start, end) from paid grants and from free ones (zero-priced), net of
    give-backs, from the ledger's allocations (one query)."""
    rows, sums = _draws([customer_id], start, end)
    grouped = rows.annotate(d=TruncDate("entry__effective_at", tzinfo=UTC)).values("d").annotate(**sums).order_by("d")
    return {r["d"]: _draw(r["d"], r) for r in grouped}


def wallet_draws_of(*, customer_ids, start: datetime, end: datetime) -> dict[int, DailyDraws]:
    """Per customer, the credits drawn in [start, end) (as `wallet_draws_by_day`, summed over the range; `day` is
    the range's first day), in one query; customers without draws are left out."""
    rows, sums = _draws(customer_ids, start, end)
    grouped = rows.values("entry__wallet__customer_id").annotate(**sums).order_by("entry__wallet__customer_id")
    return {r["entry__wallet__customer_id"]: _draw(start.date(), r) for r in grouped}


def purchases_of(
    *, customer_ids, start: datetime, end: datetime, now: datetime | None = None
) -> dict[int, list[GrantView]]:
    """Per customer, the purchased grants (purchases and automatic top-ups) effective in [start, end) and not
    voided, by effective instant (one query); customers without any are left out."""
    now = now or timezone.now()
    result: dict[int, list[GrantView]] = {}
    grants = (
        CreditGrant.objects.select_related("created_by")
        .filter(
            wallet__customer_id__in=list(customer_ids),
            kind=CreditGrant.Kind.PURCHASED,
            voided_at__isnull=True,
            effective_at__gte=start,
            effective_at__lt=end,
        )
        .annotate(customer_id=F("wallet__customer_id"))
        .order_by("effective_at", "id")
    )
    for g in grants:
        result.setdefault(g.customer_id, []).append(grant_view(g, now))
    return result
