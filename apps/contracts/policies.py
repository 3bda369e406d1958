"""Credit policies of a contract (issue #11): the terms as plain data and their rules as pure functions, the one
home of each rule (wallets and rating call them; nothing here queries or writes).

- rollover: at a period's end, unused included credits (and, if chosen, purchased credits expiring then) roll
  into the next period up to a cap (credits, or a % of the period's included credits); the rest lapses;
- recurring grants: N credits of a kind every period;
- auto top-up: when a debit takes the balance from at or above the threshold to below it (a crossing), a purchased
  grant of the set amount at the contract's credit price, at most `topup_monthly_cap` a calendar month (UTC);
- spend limit per period: credits consumed (prepaid, hybrid) or currency billed in arrears (postpaid); reaching it
  follows the contract's enforcement (hard: the rest is not drawn and is over the limit; soft, unlimited: allowed
  and alerted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from apps.core.money import ZERO, quantize_rated

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class CreditPolicyTerms:
    contract_id: int
    rollover_enabled: bool = False
    rollover_purchased: bool = False
    rollover_cap_kind: str = "amount"  # amount | percent
    rollover_cap: Decimal = ZERO
    rollover_expiry_periods: int = 1
    recurring_credits: Decimal = ZERO
    recurring_kind: str = "promotional"  # promotional | purchased
    topup_threshold: Decimal = ZERO
    topup_amount: Decimal = ZERO
    topup_monthly_cap: int = 0
    spend_limit: Decimal | None = None

    @property
    def has_topup(self) -> bool:
        return self.topup_amount > 0 and self.topup_monthly_cap > 0

    @property
    def has_recurring(self) -> bool:
        return self.recurring_credits > 0

    @property
    def has_spend_limit(self) -> bool:
        return self.spend_limit is not None and self.spend_limit > 0

    @property
    def is_active(self) -> bool:
        return self.rollover_enabled or self.has_recurring or self.has_topup or self.has_spend_limit


def rollover_cap(policy: CreditPolicyTerms, *, included_credits: Decimal) -> Decimal:
    """How many credits may roll over from one period: the amount, or the percentage of the period's included
    credits (0 when rollover is off)."""
    if not policy.rollover_enabled:
        return ZERO
    if policy.rollover_cap_kind == "percent":
        return quantize_rated(included_credits * policy.rollover_cap / HUNDRED)
    return policy.rollover_cap


def rollover_split(remaining: list[Decimal], *, cap: Decimal) -> list[tuple[Decimal, Decimal]]:
    """Per grant (in burn order), (rolled, lapsed): the grants roll over in that order until the cap is used."""
    left = max(cap, ZERO)
    out = []
    for amount in remaining:
        rolled = min(amount, left)
        left -= rolled
        out.append((rolled, amount - rolled))
    return out


def topup_month(at: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) the monthly cap of auto top-ups counts in."""
    at = at.astimezone(UTC)
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def topup_due(policy: CreditPolicyTerms, *, before: Decimal, after: Decimal, used_this_month: int) -> bool:
    """A top-up is due once per crossing: the balance was at or above the threshold and is now below it, and the
    month's cap is not used up."""
    return policy.has_topup and before >= policy.topup_threshold > after and used_this_month < policy.topup_monthly_cap


@dataclass(frozen=True)
class SpendLimitOutcome:
    allowed: Decimal  # what may be consumed of the demand
    reached: bool  # the period's consumption reaches the limit with this demand
    blocked: Decimal  # demand refused (hard enforcement)


def spend_limit_apply(*, limit: Decimal | None, used: Decimal, demand: Decimal, enforcement: str) -> SpendLimitOutcome:
    """A demand against the period's spend limit: hard enforcement allows only what is left under the limit (the
    rest is not drawn: over the limit); soft and unlimited allow it all (and it is alerted when reached)."""
    if limit is None or limit <= 0 or demand <= 0:
        return SpendLimitOutcome(
            allowed=max(demand, ZERO), reached=limit is not None and used >= limit > 0, blocked=ZERO
        )
    left = max(limit - used, ZERO)
    reached = used + demand >= limit
    if enforcement == "hard":
        allowed = min(demand, left)
        return SpendLimitOutcome(allowed=allowed, reached=reached, blocked=demand - allowed)
    return SpendLimitOutcome(allowed=demand, reached=reached, blocked=ZERO)


def postpaid_spend_cap(policy: CreditPolicyTerms | None, *, enforcement: str) -> Decimal | None:
    """The cap a spend limit puts on a postpaid period's overage (currency), or None: hard enforcement only."""
    if policy is None or not policy.has_spend_limit or enforcement != "hard":
        return None
    return policy.spend_limit


def combine_caps(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    """The tighter of two caps (None: no cap)."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
