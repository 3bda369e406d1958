"""Wallet writes: the shared helpers, grants, expiry and voids (debits and reversals: see .debits; included credits:
see .included; support credits: see .support).

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
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, connections, transaction
from django.db.models import Sum
from django.utils import timezone

from apps.contracts.selectors import customer_get_by_id
from apps.core.actors import SYSTEM, Actor
from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.history import stamp_history
from apps.core.money import ZERO, quantize_rated, to_decimal

from ..models import BURN_ORDER, CreditGrant, CreditRequest, LedgerEntry, Wallet

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


def decimal_sums_by(queryset, *keys_and_field: str) -> dict:
    """Exact Decimal sums of the last name's field per value of the other names (a tuple key when several)."""
    *keys, field = keys_and_field

    def key_of(values) -> object:
        return values[0] if len(keys) == 1 else tuple(values)

    if connections[queryset.db].vendor == "sqlite":
        totals: dict = {}
        for row in queryset.values_list(*keys, field):
            k = key_of(row[:-1])
            totals[k] = totals.get(k, ZERO) + row[-1]
        return totals
    return {
        key_of([row[k] for k in keys]): row["total"]
        for row in queryset.values(*keys).annotate(total=Sum(field)).order_by()
    }


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


@transaction.atomic
def wallet_expire_due(*, now: datetime | None = None) -> int:
    """Expire every grant whose expiry instant has passed: one expiry entry per grant for what was left, dated at
    the expiry instant. Wallets are locked one by one in id order. Returns the number of grants expired.
    Under a contract's rollover policy, what the cap allows of a period's expiring credits moves to a rollover
    grant instead (see .policies); only the rest lapses."""
    from .policies import rollover_grants_issue, rollover_out_entry, rollover_plan  # .policies imports this module

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
        plan = rollover_plan(wallet=wallet, grants=grants)  # the contract's rollover policy, if any
        balance = wallet.balance
        for grant in grants:
            rolled = plan.rolled.get(grant.pk, ZERO)
            lapsed = grant.remaining - rolled
            if lapsed > 0:
                balance -= lapsed
                LedgerEntry.objects.create(
                    wallet=wallet,
                    entry_type=LedgerEntry.EntryType.EXPIRY,
                    grant=grant,
                    amount=-lapsed,
                    balance_after=balance,
                    idempotency_key=f"expiry:grant:{grant.pk}",
                    reference=grant.reference,
                    note=f"{grant.get_kind_display()} credits expired"
                    + (" (beyond the rollover cap: breakage)" if rolled > 0 else ""),
                    effective_at=grant.expires_at,
                    **_actor_fields(SYSTEM),
                )
            if rolled > 0:
                balance -= rolled
                rollover_out_entry(wallet=wallet, grant=grant, amount=rolled, balance=balance)
            CreditGrant.objects.filter(pk=grant.pk).update(remaining=ZERO, expired_at=grant.expires_at)
            count += 1
        _set_balance(wallet, balance)
        if plan.rolled:
            rollover_grants_issue(wallet=wallet, sources=grants, plan=plan)
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
