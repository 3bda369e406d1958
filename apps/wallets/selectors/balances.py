"""Wallet reads for one customer: balance, grants, runway and included credits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import F, Q
from django.utils import timezone

from apps.core.money import ZERO, quantize_rated

from ..models import CreditGrant, LedgerAllocation, LedgerEntry, Wallet
from ..services import BURN_ORDER, decimal_sum, decimal_sums_by

RUNWAY_BASIS_DAYS = 14
RUNWAY_HORIZON_DAYS = 3 * 365


@dataclass(frozen=True)
class GrantView:
    id: int
    kind: str
    kind_label: str
    amount: Decimal
    remaining: Decimal
    priority: int
    effective_at: datetime
    expires_at: datetime | None
    price_per_credit: Decimal
    reason_code: str
    reference: str
    note: str
    source: str
    status: str  # active | scheduled | used | expired | voided
    created_by: str
    created_at: datetime
    expiring_soon: bool

    @property
    def used(self) -> Decimal:
        return self.amount - self.remaining


@dataclass(frozen=True)
class BalanceView:
    customer_id: int
    balance: Decimal
    unit: str
    grants: list[GrantView]  # grants with credits left, in burn-down order
    available_now: Decimal = ZERO  # effective now and not expired (what a debit could draw at this instant)
    expiring_30d: Decimal = ZERO


def _grant_status(grant: CreditGrant, now: datetime) -> str:
    if grant.voided_at is not None:
        return "voided"
    if grant.expired_at is not None or (grant.expires_at is not None and grant.expires_at <= now):
        return "expired"
    if grant.remaining == 0:
        return "used"
    if grant.effective_at > now:
        return "scheduled"
    return "active"


def grant_view(grant: CreditGrant, now: datetime) -> GrantView:
    status = _grant_status(grant, now)
    return GrantView(
        id=grant.pk,
        kind=grant.kind,
        kind_label=grant.get_kind_display(),
        amount=grant.amount,
        remaining=grant.remaining,
        priority=grant.priority,
        effective_at=grant.effective_at,
        expires_at=grant.expires_at,
        price_per_credit=grant.price_per_credit,
        reason_code=grant.reason_code,
        reference=grant.reference,
        note=grant.note,
        source=grant.source,
        status=status,
        created_by=grant.created_by.username if grant.created_by_id else "",
        created_at=grant.created_at,
        expiring_soon=status == "active"
        and grant.expires_at is not None
        and grant.expires_at <= now + timedelta(days=30)
        and grant.remaining > 0,
    )


def wallet_of(*, customer_id: int) -> Wallet | None:
    return Wallet.objects.filter(customer_id=customer_id).first()


def wallet_balance(*, customer_id: int, now: datetime | None = None) -> BalanceView:
    now = now or timezone.now()
    wallet = wallet_of(customer_id=customer_id)
    if wallet is None:
        return BalanceView(customer_id=customer_id, balance=ZERO, unit="credits", grants=[])
    grants = [
        grant_view(g, now)
        for g in CreditGrant.objects.select_related("created_by")
        .filter(wallet=wallet, remaining__gt=0)
        .order_by(*BURN_ORDER)
    ]
    available = sum((g.remaining for g in grants if g.status == "active"), ZERO)
    expiring = sum((g.remaining for g in grants if g.expiring_soon), ZERO)
    return BalanceView(
        customer_id=customer_id,
        balance=wallet.balance,
        unit=wallet.unit,
        grants=grants,
        available_now=available,
        expiring_30d=expiring,
    )


def wallet_grants(*, customer_id: int, include_closed: bool = True, now: datetime | None = None) -> list[GrantView]:
    """All grants of the wallet: open ones in burn-down order first, then used/expired/voided, newest first."""
    now = now or timezone.now()
    qs = CreditGrant.objects.select_related("created_by").filter(wallet__customer_id=customer_id)
    open_grants = [grant_view(g, now) for g in qs.filter(remaining__gt=0).order_by(*BURN_ORDER)]
    if not include_closed:
        return open_grants
    closed = [grant_view(g, now) for g in qs.filter(remaining=0).order_by("-created_at", "-id")]
    return open_grants + closed


# --- runway --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunwayGrant:
    remaining: Decimal
    priority: int
    effective_at: datetime
    expires_at: datetime | None
    price_per_credit: Decimal
    created_at: datetime
    id: int = 0

    def sort_key(self):
        return (
            self.priority,
            self.expires_at is None,
            self.expires_at or self.created_at,
            self.price_per_credit,
            self.created_at,
            self.id,
        )


@dataclass(frozen=True)
class RunwayView:
    burn_per_day: Decimal  # average net debits per day over the trailing basis_days
    runs_out_on: (
        date | None
    )  # the day the balance reaches zero at that burn (and through expiries); None: not within the horizon
    days_left: Decimal | None
    balance: Decimal
    basis_days: int = RUNWAY_BASIS_DAYS
    runs_out_at: datetime | None = None
    expiring_before_run_out: Decimal = ZERO  # credits that expire unused before they can be burnt
    horizon_days: int = RUNWAY_HORIZON_DAYS


def project_runway(
    *, grants: list[RunwayGrant], burn_per_day: Decimal, now: datetime, horizon_days: int = RUNWAY_HORIZON_DAYS
) -> tuple[datetime | None, Decimal]:
    """When does the usable balance run out, burning `burn_per_day` continuously in burn-down order, with each
    grant usable from its effective instant and losing what is left at its expiry instant?

    Returns (instant or None if not within the horizon, credits lost to expiry before then). Pure: no database.
    With no burn, the balance runs out only when its last grant expires.
    """
    rate = burn_per_day / Decimal(86400)  # credits per second
    horizon = now + timedelta(days=horizon_days)
    order = sorted(range(len(grants)), key=lambda i: grants[i].sort_key())
    state = {i: grants[i].remaining for i in order if grants[i].remaining > 0}
    lost = ZERO
    for i in list(state):  # already past their expiry (the expiry job has not run yet): gone
        if grants[i].expires_at is not None and grants[i].expires_at <= now:
            lost += state.pop(i)
    t = now
    while True:
        live = [i for i in order if state.get(i, ZERO) > 0]
        if not live:
            return t, quantize_rated(lost)
        usable = [i for i in live if grants[i].effective_at <= t]
        events = [e for i in live for e in (grants[i].effective_at, grants[i].expires_at) if e is not None and e > t]
        next_event = min(events) if events else None
        available = sum((state[i] for i in usable), ZERO)
        if rate > 0:
            if available == 0:
                return t, quantize_rated(lost)  # nothing usable right now
            seconds = available / rate
            if seconds > Decimal((horizon - t).total_seconds()):
                empty_at = None  # beyond the horizon (unless an expiry comes first)
            else:
                try:
                    empty_at = t + timedelta(seconds=int(seconds))
                except OverflowError:  # a tiny burn on a huge balance: never, for any practical purpose
                    empty_at = None
            if empty_at is not None and (next_event is None or empty_at <= next_event):
                return empty_at, quantize_rated(lost)
            if empty_at is None and (next_event is None or next_event > horizon):
                return None, quantize_rated(lost)
            need = quantize_rated(burn_per_day * Decimal((next_event - t).total_seconds()) / Decimal(86400))
            for i in usable:
                take = min(state[i], need)
                state[i] -= take
                need -= take
                if need == 0:
                    break
        if next_event is None or next_event > horizon:
            return None, quantize_rated(lost)
        t = next_event
        for i in live:
            if grants[i].expires_at is not None and grants[i].expires_at <= t:
                lost += state.pop(i)


def burn_per_day(*, wallet_id: int, now: datetime, days: int = RUNWAY_BASIS_DAYS) -> Decimal:
    """Net credits debited per day over the trailing `days` (debits minus their reversals)."""
    since = now - timedelta(days=days)
    total = decimal_sum(
        LedgerEntry.objects.filter(wallet_id=wallet_id, effective_at__gt=since, effective_at__lte=now).filter(
            Q(entry_type=LedgerEntry.EntryType.DEBIT) | Q(entry_type=LedgerEntry.EntryType.REVERSAL)
        ),
        "amount",
    )
    return quantize_rated(max(-total, ZERO) / Decimal(days))


def available_at(*, customer_id: int, at: datetime) -> Decimal:
    """Credits a debit at `at` could draw (effective, not expired, not voided)."""
    return decimal_sum(
        CreditGrant.objects.filter(
            wallet__customer_id=customer_id,
            remaining__gt=0,
            effective_at__lte=at,
            expired_at__isnull=True,
            voided_at__isnull=True,
        ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at)),
        "remaining",
    )


@dataclass(frozen=True)
class IncludedCredits:
    """One contract period's included credits: granted, used (drawn net of give-backs), lapsed at the period's end
    (expired), and what is left (still usable until the period ends)."""

    grant_id: int
    period_start: datetime
    period_end: datetime
    granted: Decimal
    used: Decimal
    lapsed: Decimal
    left: Decimal


def included_credits(*, customer_id: int, start: datetime, end: datetime) -> list[IncludedCredits]:
    """The included-credit grants whose period overlaps [start, end), oldest first."""
    return included_credits_of(customer_ids=[customer_id], start=start, end=end).get(customer_id, [])


def included_credits_of(*, customer_ids, start: datetime, end: datetime) -> dict[int, list[IncludedCredits]]:
    """`included_credits` for many customers at once (three queries); customers without any are left out."""
    grants = list(
        CreditGrant.objects.filter(
            wallet__customer_id__in=list(customer_ids),
            kind=CreditGrant.Kind.INCLUDED,
            effective_at__lt=end,
            expires_at__gt=start,
        )
        .annotate(customer_id=F("wallet__customer_id"))
        .order_by("effective_at", "id")
    )
    if not grants:
        return {}
    ids = [g.pk for g in grants]
    used = decimal_sums_by(LedgerAllocation.objects.filter(grant_id__in=ids), "grant_id", "amount")
    lapsed = decimal_sums_by(
        LedgerEntry.objects.filter(grant_id__in=ids, entry_type=LedgerEntry.EntryType.EXPIRY), "grant_id", "amount"
    )
    result: dict[int, list[IncludedCredits]] = {}
    for g in grants:
        result.setdefault(g.customer_id, []).append(
            IncludedCredits(
                grant_id=g.pk,
                period_start=g.effective_at,
                period_end=g.expires_at,
                granted=g.amount,
                used=-(used.get(g.pk) or ZERO),
                lapsed=-(lapsed.get(g.pk) or ZERO),
                left=g.remaining,
            )
        )
    return result
