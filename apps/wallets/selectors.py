"""Wallet reads: balances, grants, runway, ledger, credit requests, support activity. Plain data out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import models
from django.db.models import Case, Q, QuerySet, Sum, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.core.money import DECIMAL_PLACES, MAX_DIGITS, ZERO, quantize_rated

from .models import CreditGrant, CreditRequest, LedgerAllocation, LedgerEntry, Wallet
from .services import BURN_ORDER, decimal_sum, decimal_sums_by

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


def wallet_runway(*, customer_id: int, now: datetime | None = None) -> RunwayView:
    now = now or timezone.now()
    wallet = wallet_of(customer_id=customer_id)
    if wallet is None:
        return RunwayView(burn_per_day=ZERO, runs_out_on=None, days_left=None, balance=ZERO)
    burn = burn_per_day(wallet_id=wallet.pk, now=now)
    grants = [
        RunwayGrant(
            remaining=g.remaining,
            priority=g.priority,
            effective_at=g.effective_at,
            expires_at=g.expires_at,
            price_per_credit=g.price_per_credit,
            created_at=g.created_at,
            id=g.pk,
        )
        for g in CreditGrant.objects.filter(
            wallet=wallet, remaining__gt=0, expired_at__isnull=True, voided_at__isnull=True
        )
    ]
    at, lost = project_runway(grants=grants, burn_per_day=burn, now=now)
    days_left = None
    if at is not None:
        days_left = (Decimal((at - now).total_seconds()) / Decimal(86400)).quantize(Decimal("0.1"))
    return RunwayView(
        burn_per_day=burn,
        runs_out_on=at.date() if at else None,
        days_left=days_left,
        balance=wallet.balance,
        runs_out_at=at,
        expiring_before_run_out=lost,
    )


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


def customer_balances(*, customer_ids) -> dict[int, Decimal]:
    """Balances of many customers in one query (for lists)."""
    return dict(Wallet.objects.filter(customer_id__in=list(customer_ids)).values_list("customer_id", "balance"))


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
    grants = list(
        CreditGrant.objects.filter(
            wallet__customer_id=customer_id, kind=CreditGrant.Kind.INCLUDED, effective_at__lt=end, expires_at__gt=start
        ).order_by("effective_at", "id")
    )
    if not grants:
        return []
    ids = [g.pk for g in grants]
    used = decimal_sums_by(LedgerAllocation.objects.filter(grant_id__in=ids), "grant_id", "amount")
    lapsed = decimal_sums_by(
        LedgerEntry.objects.filter(grant_id__in=ids, entry_type=LedgerEntry.EntryType.EXPIRY), "grant_id", "amount"
    )
    return [
        IncludedCredits(
            grant_id=g.pk,
            period_start=g.effective_at,
            period_end=g.expires_at,
            granted=g.amount,
            used=-(used.get(g.pk) or ZERO),
            lapsed=-(lapsed.get(g.pk) or ZERO),
            left=g.remaining,
        )
        for g in grants
    ]


def recent_give_backs(*, customer_id: int, limit: int = 5) -> list[LedgerEntry]:
    """The latest give-backs (reversal entries) with the grants the credits went back to."""
    return list(
        LedgerEntry.objects.filter(wallet__customer_id=customer_id, entry_type=LedgerEntry.EntryType.REVERSAL)
        .prefetch_related("allocations__grant")
        .order_by("-effective_at", "-id")[:limit]
    )


# --- batch reads for insights and alerts


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


def wallet_draws_by_day(*, customer_id: int, start: datetime, end: datetime) -> dict[date, DailyDraws]:
    """Credits drawn per UTC day in [start, end) from paid grants and from free ones (zero-priced), net of
    give-backs, from the ledger's allocations (one query)."""
    free = Q(grant__price_per_credit=0)
    amount = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)
    rows = (
        LedgerAllocation.objects.filter(
            entry__wallet__customer_id=customer_id,
            entry__entry_type__in=[LedgerEntry.EntryType.DEBIT, LedgerEntry.EntryType.REVERSAL],
            entry__effective_at__gte=start,
            entry__effective_at__lt=end,
        )
        .annotate(d=TruncDate("entry__effective_at", tzinfo=UTC))
        .values("d")
        .annotate(
            free=Sum(Case(When(free, then="amount"), default=0, output_field=amount)),
            paid=Sum(Case(When(~free, then="amount"), default=0, output_field=amount)),
            revenue=Sum("revenue"),
        )
        .order_by("d")
    )
    # allocations are signed like their entries (a debit takes: negative) but carry revenue positive for a debit
    return {r["d"]: DailyDraws(r["d"], -(r["paid"] or ZERO), -(r["free"] or ZERO), r["revenue"] or ZERO) for r in rows}
