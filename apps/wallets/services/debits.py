"""Wallet writes: burn-down debits and their reversals (the rules in .ledger's docstring apply)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.money import ZERO, quantize_rated

from ..models import BURN_ORDER, CreditGrant, LedgerAllocation, LedgerEntry, Wallet
from .ledger import (
    Allocation,
    DebitResult,
    _actor_fields,
    _aware,
    _credits,
    _key,
    _lock_wallet,
    decimal_sums_by,
)
from .policies import DrawPolicies


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


@dataclass(frozen=True)
class DebitRequest:
    """One debit of `wallet_debits` (the arguments of `wallet_debit`)."""

    customer_id: int
    amount: Decimal
    idempotency_key: str
    at: datetime | None = None
    reference: str = ""


@transaction.atomic
def wallet_debits(*, requests: Sequence[DebitRequest], actor: Actor) -> list[DebitResult]:
    """`wallet_debit` for many requests in a handful of statements whatever their number (rating settles every
    customer of a batch at once): the same ledger entries, allocations, grant remainders and balances as calling
    `wallet_debit` for each request in order (requests of one wallet apply in their order). The wallets are locked
    in id order, then their grants; a key already used returns the first result (replayed). Results are in the
    requests' order."""
    if not requests:
        return []
    prepared = []
    for request in requests:
        key = _key(request.idempotency_key)
        amount = _credits(request.amount, allow_zero=True)
        at = _aware(request.at, field="at") or timezone.now()
        prepared.append((request, key, amount, at))
    keys = [key for _, key, _, _ in prepared]
    if len(set(keys)) != len(keys):
        raise ValidationFailed("Each debit needs its own idempotency key.", field="idempotency_key")
    customer_ids = sorted({r.customer_id for r in requests})
    wallets = {
        w.customer_id: w for w in Wallet.objects.select_for_update().filter(customer_id__in=customer_ids).order_by("id")
    }
    for customer_id in customer_ids:
        if customer_id not in wallets:  # a wallet-backed customer's first debit
            wallets[customer_id] = _lock_wallet(customer_id=customer_id)
    existing = {e.idempotency_key: e for e in LedgerEntry.objects.filter(idempotency_key__in=keys)}
    policies = DrawPolicies.load(customer_ids)  # auto top-ups and spend limits (contracts' credit policies)
    drawing = [p for p in prepared if p[1] not in existing and p[2] != 0]
    grants_of: dict[int, list[CreditGrant]] = {}
    if drawing:
        latest = max(at for _, _, _, at in drawing)
        wallet_ids = sorted({wallets[r.customer_id].pk for r, _, _, _ in drawing})
        for grant in (
            CreditGrant.objects.select_for_update()
            .filter(
                wallet_id__in=wallet_ids,
                remaining__gt=0,
                effective_at__lte=latest,
                expired_at__isnull=True,
                voided_at__isnull=True,
            )
            .order_by("wallet_id", *BURN_ORDER)
        ):
            grants_of.setdefault(grant.wallet_id, []).append(grant)
    results: list[DebitResult | None] = []
    entries: list[LedgerEntry] = []
    planned: list[tuple[int, LedgerEntry, list[tuple[CreditGrant, Decimal, Decimal]]]] = []
    touched_grants: dict[int, CreditGrant] = {}
    touched_wallets: dict[int, Wallet] = {}
    for request, key, amount, at in prepared:
        wallet = wallets[request.customer_id]
        found = existing.get(key)
        if found is not None:
            if found.wallet_id != wallet.pk or found.entry_type != LedgerEntry.EntryType.DEBIT:
                raise Conflict(
                    f"The idempotency key {key!r} was already used for another operation.",
                    code="idempotency_conflict",
                    field="idempotency_key",
                )
            results.append(_debit_result(found, replayed=True))
            continue
        if amount == 0:
            results.append(DebitResult(None, ZERO, ZERO, ZERO, ZERO, wallet.balance, ()))
            continue
        limited = policies.limit(wallet=wallet, customer_id=request.customer_id, amount=amount, at=at)
        allowed = amount if limited is None else limited.allowed
        left = allowed
        draws: list[tuple[CreditGrant, Decimal, Decimal]] = []
        for grant in grants_of.get(wallet.pk, ()):
            if left == 0:
                break
            if (
                grant.remaining <= 0
                or grant.effective_at > at
                or (grant.expires_at is not None and grant.expires_at <= at)
            ):
                continue
            take = min(grant.remaining, left)
            draws.append((grant, take, quantize_rated(take * grant.price_per_credit)))
            left -= take
            grant.remaining -= take
            touched_grants[grant.pk] = grant
        drawn = allowed - left
        policies.consume(wallet=wallet, customer_id=request.customer_id, at=at, drawn=drawn)
        revenue = sum((r for _, _, r in draws), ZERO)
        wallet.balance -= drawn
        touched_wallets[wallet.pk] = wallet
        entry = LedgerEntry(
            wallet=wallet,
            entry_type=LedgerEntry.EntryType.DEBIT,
            amount=-drawn,
            requested=amount,
            balance_after=wallet.balance,
            revenue=revenue,
            idempotency_key=key,
            reference=(request.reference or "")[:200],
            note=f"spend limit of the period reached: {limited.blocked.normalize():f} not drawn"
            if limited is not None and limited.blocked > 0
            else "",
            effective_at=at,
            **_actor_fields(actor),
        )
        entries.append(entry)
        planned.append((len(results), entry, draws))
        results.append(None)
    LedgerEntry.objects.bulk_create(entries)
    LedgerAllocation.objects.bulk_create(
        [
            LedgerAllocation(entry=entry, grant=grant, amount=-take, revenue=rev)
            for _, entry, draws in planned
            for grant, take, rev in draws
        ]
    )
    if touched_grants:
        CreditGrant.objects.bulk_update(list(touched_grants.values()), ["remaining"])
    if touched_wallets:
        Wallet.objects.bulk_update(list(touched_wallets.values()), ["balance"])
    if policies.contracts:  # auto top-ups: once per crossing, under the wallet lock, in this transaction
        for _, entry, _ in planned:
            policies.topup(wallet=entry.wallet, customer_id=entry.wallet.customer_id, entry=entry, actor=actor)
    for index, entry, draws in planned:
        drawn = -entry.amount
        results[index] = DebitResult(
            entry_id=entry.pk,
            requested=entry.requested,
            drawn=drawn,
            shortfall=entry.requested - drawn,
            revenue=entry.revenue,
            balance_after=entry.balance_after,
            allocations=tuple(
                Allocation(grant_id=g.pk, amount=take, revenue=rev, kind=g.kind, price_per_credit=g.price_per_credit)
                for g, take, rev in draws
            ),
        )
    return [r for r in results if r is not None]


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
    the shortfall is returned for the caller to handle. One ledger entry; one allocation per grant drawn.
    (`wallet_debits` with one request: the draw has one home.)"""
    request = DebitRequest(
        customer_id=customer_id, amount=amount, idempotency_key=idempotency_key, at=at, reference=reference
    )
    return wallet_debits(requests=[request], actor=actor)[0]


def debit_outstanding(entry: LedgerEntry) -> dict[int, Decimal]:
    """Per grant, what a debit drew and has not been reversed yet (allocation order)."""
    return _outstanding([entry.pk])[entry.pk]


def _outstanding(debit_ids: Sequence[int]) -> dict[int, dict[int, Decimal]]:
    """Per debit, per grant: what it drew and has not been reversed yet (allocation order). Two reads for all."""
    outstanding: dict[int, dict[int, Decimal]] = {pk: {} for pk in debit_ids}
    for entry_id, grant_id, amount in (
        LedgerAllocation.objects.filter(entry_id__in=debit_ids)
        .order_by("id")
        .values_list("entry_id", "grant_id", "amount")
    ):
        per = outstanding[entry_id]
        per[grant_id] = per.get(grant_id, ZERO) - amount
    given_back = decimal_sums_by(
        LedgerAllocation.objects.filter(entry__reverses_id__in=debit_ids), "entry__reverses_id", "grant_id", "amount"
    )
    for (debit_id, grant_id), total in given_back.items():
        per = outstanding[debit_id]
        per[grant_id] = per.get(grant_id, ZERO) - total
    return outstanding


@dataclass(frozen=True)
class ReverseRequest:
    """One reversal of `wallet_reverses` (the arguments of `wallet_reverse`)."""

    entry_id: int
    idempotency_key: str
    amount: Decimal | None = None
    parts: dict[int, tuple[Decimal, Decimal]] | None = None
    reference: str = ""
    note: str = ""


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
    give-back and an expiry/void of the same amount on that grant): they could not have been used.
    (`wallet_reverses` with one request: the reversal has one home.)"""
    request = ReverseRequest(
        entry_id=entry_id, idempotency_key=idempotency_key, amount=amount, parts=parts, reference=reference, note=note
    )
    return wallet_reverses(requests=[request], actor=actor)[0]


@transaction.atomic
def wallet_reverses(*, requests: Sequence[ReverseRequest], actor: Actor) -> list[LedgerEntry | None]:
    """`wallet_reverse` for many debits at once, in order, as if one after the other (a re-rate gives back what
    every superseded debit drew): the debits, their allocations and earlier give-backs, the wallets and the grants
    are read and locked once, each reversal writes its entry, and each grant and wallet is updated once at the end."""
    keys = [_key(r.idempotency_key) for r in requests]
    debits = {d.pk: d for d in LedgerEntry.objects.filter(pk__in=[r.entry_id for r in requests])}
    for r in requests:
        debit = debits.get(r.entry_id)
        if debit is None:
            raise NotFound("No such ledger entry.")
        if debit.entry_type != LedgerEntry.EntryType.DEBIT:
            raise ValidationFailed("Only debits can be reversed.", field="entry_id")
    wallets = {
        w.pk: w
        for w in Wallet.objects.select_for_update().filter(pk__in={d.wallet_id for d in debits.values()}).order_by("pk")
    }
    existing = {e.idempotency_key: e for e in LedgerEntry.objects.filter(idempotency_key__in=keys)}
    outstanding = _outstanding(sorted(debits))
    grants = {
        g.pk: g
        for g in CreditGrant.objects.select_for_update()
        .filter(pk__in={g for per in outstanding.values() for g in per})
        .order_by(*BURN_ORDER)
    }
    touched: dict[int, CreditGrant] = {}
    allocations: list[LedgerAllocation] = []
    results: list[LedgerEntry | None] = []
    unsaved: list[LedgerEntry] = []  # written together, in order
    done: set[str] = set()

    for request, key in zip(requests, keys, strict=True):
        debit = debits[request.entry_id]
        wallet = wallets[debit.wallet_id]
        found = existing.get(key)
        if found is not None or key in done:
            if found is None or found.wallet_id != wallet.pk or found.entry_type != LedgerEntry.EntryType.REVERSAL:
                raise Conflict(
                    f"The idempotency key {key!r} was already used for another operation.",
                    code="idempotency_conflict",
                    field="idempotency_key",
                )
            if found.reverses_id != debit.pk:
                raise Conflict(
                    f"The idempotency key {key!r} was already used to reverse another debit.",
                    code="idempotency_conflict",
                    field="idempotency_key",
                )
            results.append(found)
            continue
        entry, gives = _reverse_one(request, key, debit, wallet, outstanding[debit.pk], grants, actor)
        results.append(entry)
        if entry is None:
            continue
        unsaved.append(entry)
        done.add(key)
        allocations.extend(LedgerAllocation(entry=entry, grant=g, amount=take, revenue=rev) for g, take, rev in gives)
        for grant, take, _ in gives:
            per = outstanding[debit.pk]
            per[grant.pk] = per.get(grant.pk, ZERO) - take
            if take > 0 and (grant.expired_at is not None or grant.voided_at is not None):
                entry_type = LedgerEntry.EntryType.EXPIRY if grant.expired_at else LedgerEntry.EntryType.VOID
                wallet.balance -= take
                lapse = LedgerEntry(
                    wallet=wallet,
                    entry_type=entry_type,
                    grant=grant,
                    amount=-take,
                    balance_after=wallet.balance,
                    idempotency_key=f"{key}:{entry_type}:{grant.pk}"[:200],
                    reference=entry.reference,
                    note=f"given back by the reversal of debit #{debit.pk} to a grant that had "
                    f"{'expired' if grant.expired_at else 'been voided'}: lapses with it",
                    effective_at=entry.effective_at,
                    **_actor_fields(actor),
                )
                unsaved.append(lapse)
            else:
                grant.remaining += take  # under the lock, in Python (SQLite would add in floating point)
                touched[grant.pk] = grant
    LedgerEntry.objects.bulk_create(unsaved)
    LedgerAllocation.objects.bulk_create(allocations)
    prefetch_related_objects([e for e in results if e is not None], "allocations")  # callers read them: one query
    if touched:
        CreditGrant.objects.bulk_update(list(touched.values()), ["remaining"])
    Wallet.objects.bulk_update(list(wallets.values()), ["balance"])
    return results


def _reverse_one(
    request: ReverseRequest,
    key: str,
    debit: LedgerEntry,
    wallet: Wallet,
    outstanding: dict[int, Decimal],
    grants: dict[int, CreditGrant],
    actor: Actor,
) -> tuple[LedgerEntry | None, list[tuple[CreditGrant, Decimal, Decimal]]]:
    """One reversal's entry, not yet saved (balance moved on `wallet` in memory), and its (grant, credits (+ back, - taken),
    revenue) parts; (None, []) when a parts reversal has nothing to do."""
    total = sum(outstanding.values(), ZERO)
    gives: list[tuple[CreditGrant, Decimal, Decimal]] = []
    if request.parts is not None:
        for grant_id, (credits, revenue) in request.parts.items():
            if grant_id not in outstanding:
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
            return None, []
    else:
        wanted = total if request.amount is None else _credits(request.amount)
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
    wallet.balance += wanted
    entry = LedgerEntry(  # written by the caller
        wallet=wallet,
        entry_type=LedgerEntry.EntryType.REVERSAL,
        amount=wanted,
        balance_after=wallet.balance,
        revenue=sum((r for _, _, r in gives), ZERO),
        idempotency_key=key,
        reverses=debit,
        reference=(request.reference or debit.reference)[:200],
        note=request.note,
        effective_at=timezone.now(),
        **_actor_fields(actor),
    )
    return entry, gives
