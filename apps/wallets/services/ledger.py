"""Wallet writes: grants, burn-down debits, reversals, expiry and voids (support credits: see .support).

Rules every service here keeps:
- keyword-only, @transaction.atomic, idempotent by key: a repeat with the same key returns the first result and
  changes nothing (a key already used for another wallet or another kind of operation is a Conflict);
- the wallet row is locked first (select_for_update), then its grants in burn-down order, so concurrent writers
  of one wallet serialize and never deadlock;
- the ledger is append-only: every balance change is one new LedgerEntry (plus LedgerAllocations for debits and
  reversals); grants' `remaining` and the wallet's `balance` are updated in the same transaction, so always
  sum(entries) == balance == sum(remaining), and no remaining is ever negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import IntegrityError, connections, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from apps.contracts.selectors import contracts_including_credits, customer_get_by_id
from apps.core.actors import SYSTEM, Actor
from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.history import stamp_history
from apps.core.money import ZERO, quantize_rated, to_decimal

from ..models import BURN_ORDER, CreditGrant, CreditRequest, LedgerAllocation, LedgerEntry, Wallet

MAX_AMOUNT = Decimal(10) ** 17
SUPPORT_KINDS = (CreditGrant.Kind.SUPPORT, CreditGrant.Kind.PROMOTIONAL)


@dataclass(frozen=True)
class Allocation:
    grant_id: int
    amount: Decimal  # credits drawn from (debit) or given back to (reversal) the grant; positive
    revenue: Decimal  # amount x the grant's price_per_credit (what those credits were paid for)
    kind: str
    price_per_credit: Decimal


@dataclass(frozen=True)
class DebitResult:
    entry_id: int | None  # None only for a zero-amount debit (nothing to record)
    requested: Decimal
    drawn: Decimal
    shortfall: Decimal  # requested - drawn; the caller decides (hard: over limit; soft/unlimited: overage)
    revenue: Decimal
    balance_after: Decimal
    allocations: tuple[Allocation, ...]
    replayed: bool = False  # True when the key had been used: this is the first call's result


@dataclass(frozen=True)
class CreditIssueResult:
    grant: CreditGrant | None
    request: CreditRequest | None
    status: str  # "issued" | "pending": the outcome of the issue call (the request carries its current status)
    replayed: bool = False


# --- helpers -------------------------------------------------------------------------------------------------


def _key(value: str, *, field: str = "idempotency_key") -> str:
    key = (value or "").strip() if isinstance(value, str) else ""
    if not key:
        raise ValidationFailed("An idempotency key is required.", field=field)
    if len(key) > 200:
        raise ValidationFailed("The idempotency key is at most 200 characters.", field=field)
    return key


def _credits(value, *, field: str = "amount", allow_zero: bool = False) -> Decimal:
    amount = to_decimal(value, field=field)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationFailed(f"The {field.replace('_', ' ')} must be greater than zero.", field=field)
    if amount >= MAX_AMOUNT:
        raise ValidationFailed(f"The {field.replace('_', ' ')} is too large.", field=field)
    quantized = quantize_rated(amount)
    if quantized == 0 and not allow_zero:
        raise ValidationFailed(f"The {field.replace('_', ' ')} is too small.", field=field)
    return quantized


def _aware(value: datetime | None, *, field: str) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValidationFailed("Dates must carry a time zone.", field=field)
    return value


def _actor_fields(actor: Actor) -> dict:
    return {"actor_user": actor.user, "actor_api_key": actor.api_key}


def _lock_wallet(*, customer_id: int) -> Wallet:
    wallet_get_or_create(customer_id=customer_id)
    return Wallet.objects.select_for_update().get(customer_id=customer_id)


def _existing_entry(key: str, *, wallet: Wallet, entry_type: str) -> LedgerEntry | None:
    entry = LedgerEntry.objects.filter(idempotency_key=key).first()
    if entry is not None and (entry.wallet_id != wallet.pk or entry.entry_type != entry_type):
        raise Conflict(
            f"The idempotency key {key!r} was already used for another operation.",
            code="idempotency_conflict",
            field="idempotency_key",
        )
    return entry


def decimal_sum(queryset, field: str) -> Decimal:
    """Exact Decimal sum. SQLite stores decimals as REAL and sums them in floating point, so there the values are
    added in Python; PostgreSQL sums numerics exactly."""
    if queryset.db and connections[queryset.db].vendor == "sqlite":
        return sum(queryset.values_list(field, flat=True), ZERO)
    return queryset.aggregate(total=Sum(field))["total"] or ZERO


def decimal_sums_by(queryset, key: str, field: str) -> dict:
    if connections[queryset.db].vendor == "sqlite":
        totals: dict = {}
        for k, v in queryset.values_list(key, field):
            totals[k] = totals.get(k, ZERO) + v
        return totals
    return {row[key]: row["total"] for row in queryset.values(key).annotate(total=Sum(field)).order_by()}


def _set_balance(wallet: Wallet, balance: Decimal) -> None:
    wallet.balance = balance
    Wallet.objects.filter(pk=wallet.pk).update(balance=balance)


# --- wallets and grants ------------------------------------------------------------------------------------


@transaction.atomic
def wallet_get_or_create(*, customer_id: int) -> Wallet:
    wallet = Wallet.objects.filter(customer_id=customer_id).first()
    if wallet is not None:
        return wallet
    if customer_get_by_id(customer_id=customer_id) is None:
        raise NotFound("No such customer.")
    try:
        with transaction.atomic():
            return Wallet.objects.create(customer_id=customer_id)
    except IntegrityError:  # created concurrently
        return Wallet.objects.get(customer_id=customer_id)


def _grant(
    *,
    wallet: Wallet,
    kind: str,
    amount: Decimal,
    priority: int,
    effective_at: datetime,
    expires_at: datetime | None,
    price_per_credit: Decimal,
    reason_code: str,
    reference: str,
    note: str,
    key: str,
    actor: Actor,
    source: str,
    created_by=None,
) -> CreditGrant:
    """Create a grant and its ledger entry on a wallet the caller has locked."""
    now = timezone.now()
    grant = CreditGrant(
        wallet=wallet,
        kind=kind,
        amount=amount,
        remaining=amount,
        priority=priority,
        effective_at=effective_at,
        expires_at=expires_at,
        price_per_credit=price_per_credit,
        reason_code=reason_code,
        reference=reference,
        note=note,
        source=source,
        created_by=created_by if created_by is not None else actor.user,
    )
    stamp_history(grant, actor=actor)
    grant.save()
    balance = wallet.balance + amount
    LedgerEntry.objects.create(
        wallet=wallet,
        entry_type=LedgerEntry.EntryType.GRANT,
        grant=grant,
        amount=amount,
        balance_after=balance,
        idempotency_key=key,
        reference=reference,
        note=note,
        effective_at=min(effective_at, now),
        **_actor_fields(actor),
    )
    _set_balance(wallet, balance)
    return grant


def _validate_grant(*, kind, amount, priority, effective_at, expires_at, price_per_credit):
    if kind not in CreditGrant.Kind.values:
        raise ValidationFailed(f"Unknown credit kind {kind!r}.", field="kind")
    amount = _credits(amount)
    try:
        priority = int(priority)
    except (TypeError, ValueError):
        raise ValidationFailed("Priority is a whole number (lower draws first).", field="priority") from None
    if not 0 <= priority <= 32767:
        raise ValidationFailed("Priority is between 0 and 32767.", field="priority")
    effective_at = _aware(effective_at, field="effective_at") or timezone.now()
    expires_at = _aware(expires_at, field="expires_at")
    if expires_at is not None and expires_at <= effective_at:
        raise ValidationFailed("The expiry must be after the grant becomes effective.", field="expires_at")
    price = to_decimal(price_per_credit, field="price_per_credit")
    if price < 0:
        raise ValidationFailed("The price per credit is zero or more.", field="price_per_credit")
    return amount, priority, effective_at, expires_at, price


@transaction.atomic
def wallet_grant(
    *,
    customer_id: int,
    kind: str,
    amount: Decimal,
    priority: int = 100,
    effective_at: datetime | None = None,
    expires_at: datetime | None = None,
    price_per_credit: Decimal = Decimal(0),
    reason_code: str = "",
    reference: str = "",
    note: str = "",
    idempotency_key: str,
    actor: Actor,
    source: str = CreditGrant.Source.DIRECT,
) -> CreditGrant:
    """Add credits to the customer's wallet (a purchased commit, promotional credits, a rollover, ...)."""
    key = _key(idempotency_key)
    if kind == CreditGrant.Kind.INCLUDED:
        raise ValidationFailed("Included credits come from the contract, one grant per period.", field="kind")
    amount, priority, effective_at, expires_at, price = _validate_grant(
        kind=kind,
        amount=amount,
        priority=priority,
        effective_at=effective_at,
        expires_at=expires_at,
        price_per_credit=price_per_credit,
    )
    wallet = _lock_wallet(customer_id=customer_id)
    existing = _existing_entry(key, wallet=wallet, entry_type=LedgerEntry.EntryType.GRANT)
    if existing is not None:
        return existing.grant
    return _grant(
        wallet=wallet,
        kind=kind,
        amount=amount,
        priority=priority,
        effective_at=effective_at,
        expires_at=expires_at,
        price_per_credit=price,
        reason_code=reason_code or "",
        reference=(reference or "")[:120],
        note=note or "",
        key=key,
        actor=actor,
        source=source,
    )


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


def _debit_result(entry: LedgerEntry, *, replayed: bool) -> DebitResult:
    allocations = tuple(
        Allocation(
            grant_id=a.grant_id,
            amount=-a.amount,
            revenue=a.revenue,
            kind=a.grant.kind,
            price_per_credit=a.grant.price_per_credit,
        )
        for a in entry.allocations.select_related("grant").order_by("id")
    )
    drawn = -entry.amount
    requested = entry.requested if entry.requested is not None else drawn
    return DebitResult(
        entry_id=entry.pk,
        requested=requested,
        drawn=drawn,
        shortfall=requested - drawn,
        revenue=entry.revenue,
        balance_after=entry.balance_after,
        allocations=allocations,
        replayed=replayed,
    )


def _drawable(wallet: Wallet, at: datetime):
    return CreditGrant.objects.filter(
        wallet=wallet, remaining__gt=0, effective_at__lte=at, expired_at__isnull=True, voided_at__isnull=True
    ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))


@transaction.atomic
def wallet_debit(
    *,
    customer_id: int,
    amount: Decimal,
    idempotency_key: str,
    reference: str = "",
    actor: Actor,
    at: datetime | None = None,
) -> DebitResult:
    """Draw min(amount, available) from the grants usable at `at`, in burn-down order. Never goes below zero:
    the shortfall is returned for the caller to handle. One ledger entry; one allocation per grant drawn."""
    key = _key(idempotency_key)
    amount = _credits(amount, allow_zero=True)
    at = _aware(at, field="at") or timezone.now()
    wallet = _lock_wallet(customer_id=customer_id)
    existing = _existing_entry(key, wallet=wallet, entry_type=LedgerEntry.EntryType.DEBIT)
    if existing is not None:
        return _debit_result(existing, replayed=True)
    if amount == 0:
        return DebitResult(
            entry_id=None,
            requested=ZERO,
            drawn=ZERO,
            shortfall=ZERO,
            revenue=ZERO,
            balance_after=wallet.balance,
            allocations=(),
        )

    grants = list(_drawable(wallet, at).select_for_update().order_by(*BURN_ORDER))
    left = amount
    draws: list[tuple[CreditGrant, Decimal, Decimal]] = []
    for grant in grants:
        if left == 0:
            break
        take = min(grant.remaining, left)
        draws.append((grant, take, quantize_rated(take * grant.price_per_credit)))
        left -= take
    drawn = amount - left
    revenue = sum((r for _, _, r in draws), ZERO)
    balance = wallet.balance - drawn
    entry = LedgerEntry.objects.create(
        wallet=wallet,
        entry_type=LedgerEntry.EntryType.DEBIT,
        amount=-drawn,
        requested=amount,
        balance_after=balance,
        revenue=revenue,
        idempotency_key=key,
        reference=(reference or "")[:200],
        effective_at=at,
        **_actor_fields(actor),
    )
    for grant, take, _ in draws:
        CreditGrant.objects.filter(pk=grant.pk).update(remaining=grant.remaining - take)
    LedgerAllocation.objects.bulk_create(
        [LedgerAllocation(entry=entry, grant=grant, amount=-take, revenue=rev) for grant, take, rev in draws]
    )
    _set_balance(wallet, balance)
    return DebitResult(
        entry_id=entry.pk,
        requested=amount,
        drawn=drawn,
        shortfall=amount - drawn,
        revenue=revenue,
        balance_after=balance,
        allocations=tuple(
            Allocation(grant_id=g.pk, amount=take, revenue=rev, kind=g.kind, price_per_credit=g.price_per_credit)
            for g, take, rev in draws
        ),
    )


def debit_outstanding(entry: LedgerEntry) -> dict[int, Decimal]:
    """Per grant, what a debit drew and has not been reversed yet (allocation order)."""
    outstanding: dict[int, Decimal] = {}
    for alloc in entry.allocations.order_by("id"):
        outstanding[alloc.grant_id] = outstanding.get(alloc.grant_id, ZERO) - alloc.amount
    given_back = decimal_sums_by(LedgerAllocation.objects.filter(entry__reverses=entry), "grant_id", "amount")
    for grant_id, total in given_back.items():
        outstanding[grant_id] = outstanding.get(grant_id, ZERO) - total
    return outstanding


@transaction.atomic
def wallet_reverse(
    *,
    entry_id: int,
    idempotency_key: str,
    actor: Actor,
    amount: Decimal | None = None,
    parts: dict[int, tuple[Decimal, Decimal]] | None = None,
    reference: str = "",
    note: str = "",
) -> LedgerEntry | None:
    """Give a debit's credits back to the grants it drew from.

    With `parts` ({grant id: (credits, revenue)}), exactly those credits go back to exactly those grants with
    exactly that revenue: what superseded rated records drew (a give-back). A negative part takes back credits an
    earlier give-back had returned to that grant (a superseded true-up), at most what the grant still holds (the
    entry's allocations say what was taken; None when there was nothing to do).
    Without parts, all that is not reversed yet (or `amount`) goes back last-drawn first.

    Credits given back to a grant that has since expired or been voided lapse again at once (the ledger shows the
    give-back and an expiry/void of the same amount on that grant): they could not have been used."""
    key = _key(idempotency_key)
    debit = LedgerEntry.objects.filter(pk=entry_id).first()
    if debit is None:
        raise NotFound("No such ledger entry.")
    if debit.entry_type != LedgerEntry.EntryType.DEBIT:
        raise ValidationFailed("Only debits can be reversed.", field="entry_id")
    wallet = Wallet.objects.select_for_update().get(pk=debit.wallet_id)
    existing = _existing_entry(key, wallet=wallet, entry_type=LedgerEntry.EntryType.REVERSAL)
    if existing is not None:
        if existing.reverses_id != debit.pk:
            raise Conflict(
                f"The idempotency key {key!r} was already used to reverse another debit.",
                code="idempotency_conflict",
                field="idempotency_key",
            )
        return existing
    outstanding = debit_outstanding(debit)
    total = sum(outstanding.values(), ZERO)
    grants = {
        g.pk: g for g in CreditGrant.objects.select_for_update().filter(pk__in=list(outstanding)).order_by(*BURN_ORDER)
    }
    gives: list[tuple[CreditGrant, Decimal, Decimal]] = []  # (grant, credits back (+) or taken (-), revenue)
    if parts is not None:
        for grant_id, (credits, revenue) in parts.items():
            if grant_id not in grants:
                raise ValidationFailed(f"This debit never drew from grant #{grant_id}.", field="parts")
            if credits > outstanding[grant_id]:
                raise ValidationFailed(
                    f"Only {outstanding[grant_id].normalize():f} drawn from grant #{grant_id} is left to give back.",
                    field="parts",
                )
            grant = grants[grant_id]
            if credits < 0 and -credits > grant.remaining:  # take back only what the grant still holds
                taken = grant.remaining
                revenue = quantize_rated(-taken * grant.price_per_credit)
                credits = -taken
            if credits != 0:
                gives.append((grant, credits, -revenue))
        wanted = sum((c for _, c, _ in gives), ZERO)
        if not gives:
            return None
    else:
        wanted = total if amount is None else _credits(amount)
        if total == 0:
            raise Conflict("This debit has nothing left to reverse.", code="already_reversed")
        if wanted > total:
            raise ValidationFailed(f"Only {total.normalize():f} of this debit is left to reverse.", field="amount")
        left = wanted
        for grant_id in reversed(list(outstanding)):
            if left == 0:
                break
            take = min(outstanding[grant_id], left)
            if take <= 0:
                continue
            grant = grants[grant_id]
            gives.append((grant, take, -quantize_rated(take * grant.price_per_credit)))
            left -= take
    balance = wallet.balance + wanted
    now = timezone.now()
    entry = LedgerEntry.objects.create(
        wallet=wallet,
        entry_type=LedgerEntry.EntryType.REVERSAL,
        amount=wanted,
        balance_after=balance,
        revenue=sum((r for _, _, r in gives), ZERO),
        idempotency_key=key,
        reverses=debit,
        reference=(reference or debit.reference)[:200],
        note=note,
        effective_at=now,
        **_actor_fields(actor),
    )
    LedgerAllocation.objects.bulk_create(
        [LedgerAllocation(entry=entry, grant=g, amount=take, revenue=rev) for g, take, rev in gives]
    )
    for grant, take, _ in gives:
        if take > 0 and (grant.expired_at is not None or grant.voided_at is not None):
            entry_type = LedgerEntry.EntryType.EXPIRY if grant.expired_at else LedgerEntry.EntryType.VOID
            balance -= take
            LedgerEntry.objects.create(
                wallet=wallet,
                entry_type=entry_type,
                grant=grant,
                amount=-take,
                balance_after=balance,
                idempotency_key=f"{key}:{entry_type}:{grant.pk}"[:200],
                reference=entry.reference,
                note=f"given back by reversal #{entry.pk} to a grant that had "
                f"{'expired' if grant.expired_at else 'been voided'}: lapses with it",
                effective_at=now,
                **_actor_fields(actor),
            )
        else:
            # computed here, under the lock (no SQL arithmetic: SQLite would do it in floating point)
            CreditGrant.objects.filter(pk=grant.pk).update(remaining=grant.remaining + take)
    _set_balance(wallet, balance)
    return entry


@transaction.atomic
def wallet_expire_due(*, now: datetime | None = None) -> int:
    """Expire every grant whose expiry instant has passed: one expiry entry per grant for what was left, dated at
    the expiry instant. Wallets are locked one by one in id order. Returns the number of grants expired."""
    now = _aware(now, field="now") or timezone.now()
    due = CreditGrant.objects.filter(expires_at__lte=now, expired_at__isnull=True, voided_at__isnull=True)
    wallet_ids = sorted(set(due.values_list("wallet_id", flat=True)))
    count = 0
    for wallet_id in wallet_ids:
        wallet = Wallet.objects.select_for_update().get(pk=wallet_id)
        grants = list(
            CreditGrant.objects.select_for_update()
            .filter(wallet_id=wallet_id, expires_at__lte=now, expired_at__isnull=True, voided_at__isnull=True)
            .order_by(*BURN_ORDER)
        )
        balance = wallet.balance
        for grant in grants:
            if grant.remaining > 0:
                balance -= grant.remaining
                LedgerEntry.objects.create(
                    wallet=wallet,
                    entry_type=LedgerEntry.EntryType.EXPIRY,
                    grant=grant,
                    amount=-grant.remaining,
                    balance_after=balance,
                    idempotency_key=f"expiry:grant:{grant.pk}",
                    reference=grant.reference,
                    note=f"{grant.get_kind_display()} credits expired",
                    effective_at=grant.expires_at,
                    **_actor_fields(SYSTEM),
                )
            CreditGrant.objects.filter(pk=grant.pk).update(remaining=ZERO, expired_at=grant.expires_at)
            count += 1
        _set_balance(wallet, balance)
    return count


@transaction.atomic
def grant_void(*, grant_id: int, idempotency_key: str, actor: Actor, reason: str) -> LedgerEntry:
    """Cancel what is left of a grant (a mistaken or refunded credit). Credits already used stay used."""
    key = _key(idempotency_key)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the grant is voided.", field="reason")
    wallet_id = CreditGrant.objects.filter(pk=grant_id).values_list("wallet_id", flat=True).first()
    if wallet_id is None:
        raise NotFound("No such grant.")
    wallet = Wallet.objects.select_for_update().get(pk=wallet_id)
    existing = _existing_entry(key, wallet=wallet, entry_type=LedgerEntry.EntryType.VOID)
    if existing is not None:
        if existing.grant_id != grant_id:
            raise Conflict(
                f"The idempotency key {key!r} was already used to void another grant.",
                code="idempotency_conflict",
                field="idempotency_key",
            )
        return existing
    grant = CreditGrant.objects.select_for_update().get(pk=grant_id)
    if grant.voided_at is not None:
        raise Conflict("This grant is already voided.", code="already_voided")
    if grant.expired_at is not None:
        raise Conflict("This grant has expired; there is nothing left to void.", code="already_expired")
    balance = wallet.balance - grant.remaining
    entry = LedgerEntry.objects.create(
        wallet=wallet,
        entry_type=LedgerEntry.EntryType.VOID,
        grant=grant,
        amount=-grant.remaining,
        balance_after=balance,
        idempotency_key=key,
        reference=grant.reference,
        note=reason,
        **_actor_fields(actor),
    )
    CreditGrant.objects.filter(pk=grant.pk).update(remaining=ZERO, voided_at=timezone.now())
    _set_balance(wallet, balance)
    return entry
