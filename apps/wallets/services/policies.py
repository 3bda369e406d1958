"""Wallet writes for a contract's credit policies (issue #11; the rules live in apps.contracts.policies, the ledger
rules in .ledger's docstring apply):

- rollover: when a period's included (and, if chosen, purchased) credits expire, what the cap allows moves to a
  `rollover` grant with its own expiry (a void entry "rolled over" on the old grant, a grant entry on the new one,
  same price per credit); the rest lapses (an expiry entry: breakage). Runs inside `wallet_expire_due`;
- recurring grants: N credits of a kind every period, idempotent per contract period;
- auto top-up and the spend limit: applied by `wallet_debits` under its wallet lock (`DrawPolicies`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from apps.contracts.policies import (
    CreditPolicyTerms,
    SpendLimitOutcome,
    rollover_cap,
    rollover_split,
    spend_limit_apply,
    topup_due,
    topup_month,
)
from apps.contracts.selectors import (
    ContractTerms,
    contract_in_force,
    contracts_with_credit_policies,
    contracts_with_policy_at,
)
from apps.core.actors import SYSTEM, Actor
from apps.core.money import ZERO, decimal_str

from ..models import CreditGrant, LedgerEntry, Wallet
from .included import INCLUDED_PRIORITY
from .ledger import _actor_fields, _aware, _grant, decimal_sum, wallet_grant

TOPUP_REASON = "auto_topup"
RECURRING_REASON = "recurring"
ROLLOVER_REASON = "rollover"
_TICK = timedelta(microseconds=1)


def topup_key(*, wallet_id: int, entry_id: int) -> str:
    """The top-up a debit's crossing issued: at most one per crossing debit (the key is unique)."""
    return f"topup:{wallet_id}:{entry_id}"


def recurring_key(*, contract_id: int, period_start: datetime) -> str:
    return f"recurring:contract:{contract_id}:{period_start.isoformat()}"


# --- rollover ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RolloverPlan:
    rolled: dict[int, Decimal]  # source grant id -> credits that roll over
    terms: ContractTerms | None
    expires_at: dict[int, datetime]  # source grant id -> expiry of its rollover grant


def _rollover_expiry(terms: ContractTerms, *, period_end: datetime, periods: int) -> datetime | None:
    """The end of the `periods`-th period after `period_end` (clipped to the contract); None: the contract has
    no period after it (nothing can roll into it)."""
    if not terms.in_force_at(period_end):
        return None
    end = period_end
    for _ in range(max(periods, 1)):
        if not terms.in_force_at(end):
            break
        end = terms.billing_period(end)[1]
    return end


def rollover_plan(*, wallet: Wallet, grants: list[CreditGrant]) -> RolloverPlan:
    """Which of the expiring grants (locked, in burn order) roll over, and how much, under the contract in force
    in the period they close. Only grants expiring exactly at the end of the contract's billing period qualify:
    included credits, and purchased ones when the policy says so (never rollover or free credits of another
    kind). The cap applies per period, over the grants in burn order."""
    rolled: dict[int, Decimal] = {}
    expires: dict[int, datetime] = {}
    by_end: dict[datetime, list[CreditGrant]] = {}
    for grant in grants:
        if grant.expires_at is not None and grant.remaining > 0:
            by_end.setdefault(grant.expires_at, []).append(grant)
    terms_seen: ContractTerms | None = None
    for period_end, group in sorted(by_end.items()):
        terms = contract_in_force(customer_id=wallet.customer_id, at=period_end - _TICK)
        if terms is None or terms.credit_policy is None or not terms.credit_policy.rollover_enabled:
            continue
        if terms.billing_period(period_end - _TICK)[1] != period_end:
            continue
        policy = terms.credit_policy
        kinds = {CreditGrant.Kind.INCLUDED} | ({CreditGrant.Kind.PURCHASED} if policy.rollover_purchased else set())
        eligible = [g for g in group if g.kind in kinds]
        expiry = _rollover_expiry(terms, period_end=period_end, periods=policy.rollover_expiry_periods)
        if not eligible or expiry is None or expiry <= period_end:
            continue
        cap = rollover_cap(policy, included_credits=terms.included_credits)
        for grant, (roll, _lapse) in zip(
            eligible, rollover_split([g.remaining for g in eligible], cap=cap), strict=True
        ):
            if roll > 0:
                rolled[grant.pk] = roll
                expires[grant.pk] = expiry
        terms_seen = terms
    return RolloverPlan(rolled=rolled, terms=terms_seen, expires_at=expires)


def rollover_out_entry(*, wallet: Wallet, grant: CreditGrant, amount: Decimal, balance: Decimal) -> LedgerEntry:
    """The rolled part leaving the expiring grant (a void entry: it did not lapse, it moved)."""
    return LedgerEntry.objects.create(
        wallet=wallet,
        entry_type=LedgerEntry.EntryType.VOID,
        grant=grant,
        amount=-amount,
        balance_after=balance,
        idempotency_key=f"rollover:out:grant:{grant.pk}",
        reference=grant.reference,
        note=f"{decimal_str(amount)} credits rolled over into the next period (rollover policy)",
        effective_at=grant.expires_at,
        **_actor_fields(SYSTEM),
    )


def rollover_grants_issue(*, wallet: Wallet, sources: list[CreditGrant], plan: RolloverPlan) -> list[CreditGrant]:
    """The rollover grants of the plan, one per source grant (same price per credit), on the locked wallet."""
    issued = []
    for source in sources:
        amount = plan.rolled.get(source.pk)
        if not amount:
            continue
        key = f"rollover:grant:{source.pk}"
        existing = LedgerEntry.objects.filter(idempotency_key=key).select_related("grant").first()
        if existing is not None:
            issued.append(existing.grant)
            continue
        contract = f"contract #{plan.terms.id}" if plan.terms else source.reference
        issued.append(
            _grant(
                wallet=wallet,
                kind=CreditGrant.Kind.ROLLOVER,
                amount=amount,
                priority=INCLUDED_PRIORITY,
                effective_at=source.expires_at,
                expires_at=plan.expires_at[source.pk],
                price_per_credit=source.price_per_credit,
                reason_code=ROLLOVER_REASON,
                reference=contract[:120],
                note=f"rolled over from grant #{source.pk} ({source.get_kind_display()}) under the rollover policy",
                key=key,
                actor=SYSTEM,
                source=CreditGrant.Source.DIRECT,
            )
        )
    return issued


# --- recurring grants ----------------------------------------------------------------------------------------


def recurring_credits_issue(*, terms: ContractTerms, at: datetime, actor: Actor = SYSTEM) -> CreditGrant | None:
    """The contract's recurring credits for the period containing `at` (idempotent per contract period):
    promotional credits are free; purchased ones are priced at the contract's credit price (billed at close).
    They expire at the period's end. None when the policy grants nothing."""
    policy = terms.credit_policy
    if policy is None or not policy.has_recurring or not terms.wallet_backed or not terms.in_force_at(at):
        return None
    start, end = terms.billing_period(at)
    purchased = policy.recurring_kind == CreditGrant.Kind.PURCHASED
    return wallet_grant(
        customer_id=terms.customer_id,
        kind=CreditGrant.Kind.PURCHASED if purchased else CreditGrant.Kind.PROMOTIONAL,
        amount=policy.recurring_credits,
        effective_at=start,
        expires_at=end,
        price_per_credit=terms.credit_price if purchased else ZERO,
        reason_code=RECURRING_REASON,
        reference=f"contract #{terms.id}",
        note=f"recurring grant of the contract for {start:%Y-%m-%d} to {end:%Y-%m-%d}",
        idempotency_key=recurring_key(contract_id=terms.id, period_start=start),
        actor=actor,
    )


def recurring_credits_issue_due(*, now: datetime | None = None) -> int:
    """Beat: every contract in force with recurring credits gets its current period's grant (idempotent)."""
    now = _aware(now, field="now") or timezone.now()
    count = 0
    for terms in contracts_with_policy_at(at=now):
        if recurring_credits_issue(terms=terms, at=now) is not None:
            count += 1
    return count


# --- auto top-up and spend limit (inside wallet_debits) ------------------------------------------------------


def wallet_consumed(*, wallet_id: int, start: datetime, end: datetime) -> Decimal:
    """Credits consumed in [start, end): debits dated in it, less what was given back of those debits."""
    debits = LedgerEntry.objects.filter(
        wallet_id=wallet_id,
        entry_type=LedgerEntry.EntryType.DEBIT,
        effective_at__gte=start,
        effective_at__lt=end,
    )
    given_back = LedgerEntry.objects.filter(
        wallet_id=wallet_id,
        entry_type=LedgerEntry.EntryType.REVERSAL,
        reverses__effective_at__gte=start,
        reverses__effective_at__lt=end,
    )
    return -decimal_sum(debits, "amount") - decimal_sum(given_back, "amount")


def topups_in_month(*, wallet_id: int, at: datetime) -> int:
    start, end = topup_month(at)
    return CreditGrant.objects.filter(
        wallet_id=wallet_id, reason_code=TOPUP_REASON, effective_at__gte=start, effective_at__lt=end
    ).count()


@dataclass
class DrawPolicies:
    """The credit policies `wallet_debits` applies, loaded once per call (one query when no customer has one)."""

    contracts: dict[int, list[ContractTerms]]
    consumed: dict[tuple[int, datetime], Decimal] = field(default_factory=dict)

    @classmethod
    def load(cls, customer_ids: Iterable[int]) -> DrawPolicies:
        return cls(contracts_with_credit_policies(customer_ids=customer_ids))

    def terms_at(self, customer_id: int, at: datetime) -> ContractTerms | None:
        for terms in reversed(self.contracts.get(customer_id, ())):
            if terms.in_force_at(at):
                return terms
        return None

    def limit(self, *, wallet: Wallet, customer_id: int, amount: Decimal, at: datetime) -> SpendLimitOutcome | None:
        """The spend limit applied to a debit of `amount` at `at` (None: no limit); counts it as consumed."""
        terms = self.terms_at(customer_id, at)
        if terms is None or terms.credit_policy is None or not terms.credit_policy.has_spend_limit:
            return None
        if not terms.wallet_backed:
            return None
        start, end = terms.billing_period(at)
        key = (wallet.pk, start)
        if key not in self.consumed:
            self.consumed[key] = wallet_consumed(wallet_id=wallet.pk, start=start, end=end)
        outcome = spend_limit_apply(
            limit=terms.credit_policy.spend_limit,
            used=self.consumed[key],
            demand=amount,
            enforcement=terms.enforcement,
        )
        return outcome

    def consume(self, *, wallet: Wallet, customer_id: int, at: datetime, drawn: Decimal) -> None:
        terms = self.terms_at(customer_id, at)
        if terms is None:
            return
        key = (wallet.pk, terms.billing_period(at)[0])
        if key in self.consumed:
            self.consumed[key] += drawn

    def topup(self, *, wallet: Wallet, customer_id: int, entry: LedgerEntry, actor: Actor) -> CreditGrant | None:
        """After a debit: issue the auto top-up when it crossed the threshold (once per crossing, within the
        month's cap). The wallet is locked by the caller and its balance is current."""
        terms = self.terms_at(customer_id, entry.effective_at)
        policy: CreditPolicyTerms | None = terms.credit_policy if terms else None
        if terms is None or policy is None or not policy.has_topup or not terms.wallet_backed:
            return None
        after = entry.balance_after
        before = after - entry.amount  # the debit's amount is negative
        if not (before >= policy.topup_threshold > after):
            return None
        used = topups_in_month(wallet_id=wallet.pk, at=entry.effective_at)
        if not topup_due(policy, before=before, after=after, used_this_month=used):
            return None
        key = topup_key(wallet_id=wallet.pk, entry_id=entry.pk)
        existing = LedgerEntry.objects.filter(idempotency_key=key).select_related("grant").first()
        if existing is not None:
            return existing.grant
        return _grant(
            wallet=wallet,
            kind=CreditGrant.Kind.PURCHASED,
            amount=policy.topup_amount,
            priority=100,
            effective_at=entry.effective_at,
            expires_at=None,
            price_per_credit=terms.credit_price,
            reason_code=TOPUP_REASON,
            reference=f"contract #{terms.id}",
            note=(
                f"auto top-up agreed in contract #{terms.id}: {decimal_str(policy.topup_amount)} credits when the "
                f"balance falls below {decimal_str(policy.topup_threshold)} (top-up {used + 1} of "
                f"{policy.topup_monthly_cap} this month); debit #{entry.pk} took it from {decimal_str(before)} to "
                f"{decimal_str(after)}"
            ),
            key=key,
            actor=actor,
            source=CreditGrant.Source.DIRECT,
        )
