"""What a contract's credit policies (issue #11) will do next, and what they did: for the customer page, the
entitlement API and "why this charge". Plain data out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from apps.contracts.policies import CreditPolicyTerms, rollover_cap, topup_month
from apps.contracts.selectors import ContractTerms, contract_in_force
from apps.core.money import ZERO, decimal_str, display_amount

from ..models import CreditGrant, LedgerEntry, Wallet
from ..services.policies import TOPUP_REASON, topup_key, wallet_consumed


@dataclass(frozen=True)
class PolicyStatus:
    contract_id: int
    policy: CreditPolicyTerms
    billing_model: str
    enforcement: str
    currency: str
    period_start: datetime
    period_end: datetime
    topups_used: int = 0
    last_topup_at: datetime | None = None
    spend_used: Decimal | None = None  # credits consumed this period (wallet-backed); None: postpaid (see usage)
    rollover_next: Decimal | None = None  # what would roll over if the period ended now
    lines: tuple[str, ...] = field(default_factory=tuple)

    @property
    def spend_limit_reached(self) -> bool:
        p = self.policy
        return p.has_spend_limit and self.spend_used is not None and self.spend_used >= (p.spend_limit or ZERO)

    def as_api(self) -> dict:
        p = self.policy
        return {
            "rollover": {
                "enabled": p.rollover_enabled,
                "purchased_too": p.rollover_purchased,
                "cap": decimal_str(p.rollover_cap),
                "cap_kind": p.rollover_cap_kind,
                "expiry_periods": p.rollover_expiry_periods,
                "would_roll_over_now": decimal_str(self.rollover_next),
            }
            if p.rollover_enabled
            else None,
            "recurring_grant": {"credits": decimal_str(p.recurring_credits), "kind": p.recurring_kind}
            if p.has_recurring
            else None,
            "auto_top_up": {
                "threshold": decimal_str(p.topup_threshold),
                "amount": decimal_str(p.topup_amount),
                "monthly_cap": p.topup_monthly_cap,
                "used_this_month": self.topups_used,
                "last_at": self.last_topup_at.isoformat() if self.last_topup_at else None,
            }
            if p.has_topup
            else None,
            "spend_limit": {
                "limit": decimal_str(p.spend_limit),
                "unit": "credits" if self.spend_used is not None else self.currency,
                "used": decimal_str(self.spend_used),
                "reached": self.spend_limit_reached,
                "enforcement": self.enforcement,
            }
            if p.has_spend_limit
            else None,
            "next": list(self.lines),
        }


def _topups(wallet_id: int, at: datetime) -> tuple[int, datetime | None]:
    start, end = topup_month(at)
    rows = list(
        CreditGrant.objects.filter(
            wallet_id=wallet_id, reason_code=TOPUP_REASON, effective_at__gte=start, effective_at__lt=end
        ).values_list("effective_at", flat=True)
    )
    return len(rows), max(rows) if rows else None


def _lines(terms: ContractTerms, status: dict) -> tuple[str, ...]:
    p = terms.credit_policy
    assert p is not None  # noqa: S101 - callers pass a contract with a policy
    end = status["period_end"]
    lines = []
    if p.has_topup:
        text = (
            f"Tops up {display_amount(p.topup_amount)} credits below {display_amount(p.topup_threshold)}; used {status['topups_used']} of "
            f"{p.topup_monthly_cap} top-ups this month"
        )
        if status["topups_used"] >= p.topup_monthly_cap:
            text += " (cap reached: no more top-ups until next month)"
        lines.append(text + ".")
    if p.rollover_enabled:
        cap = (
            f"{display_amount(p.rollover_cap)} % of the included credits"
            if p.rollover_cap_kind == "percent"
            else f"{display_amount(p.rollover_cap)} credits"
        )
        what = "unused included and purchased credits" if p.rollover_purchased else "unused included credits"
        text = f"On {end:%b %-d} rolls over {what} up to {cap}"
        if status["rollover_next"] is not None:
            text += f" ({display_amount(status['rollover_next'])} if the period ended now); the rest lapses"
        lines.append(text + ".")
    if p.has_recurring:
        lines.append(
            f"Grants {display_amount(p.recurring_credits)} {p.recurring_kind} credits on {end:%b %-d} (every period)."
        )
    if p.has_spend_limit:
        unit = "credits" if terms.wallet_backed else terms.currency
        used = status["spend_used"]
        effect = "stops drawing (over the limit)" if terms.enforcement == "hard" else "allows usage and alerts"
        text = f"Spend limit {display_amount(p.spend_limit or ZERO)} {unit} per period: {effect} when reached"
        if used is not None:
            text += f"; {display_amount(used)} used this period"
        lines.append(text + ".")
    return tuple(lines)


def credit_policy_status(
    *, customer_id: int, now: datetime | None = None, spend_used: Decimal | None = None
) -> PolicyStatus | None:
    """The credit policies of the contract in force and their state now (None: no contract or no policy).
    `spend_used` (currency billed in arrears this period) comes from the caller for postpaid contracts."""
    now = now or timezone.now()
    terms = contract_in_force(customer_id=customer_id, at=now)
    if terms is None or terms.credit_policy is None or not terms.credit_policy.is_active:
        return None
    p = terms.credit_policy
    start, end = terms.billing_period(now)
    wallet = Wallet.objects.filter(customer_id=customer_id).first()
    topups_used, last_topup = (0, None)
    rollover_next = None
    if wallet is not None and terms.wallet_backed:
        if p.has_topup:
            topups_used, last_topup = _topups(wallet.pk, now)
        if p.has_spend_limit:
            spend_used = wallet_consumed(wallet_id=wallet.pk, start=start, end=end)
        if p.rollover_enabled:
            kinds = [CreditGrant.Kind.INCLUDED] + ([CreditGrant.Kind.PURCHASED] if p.rollover_purchased else [])
            left = sum(
                CreditGrant.objects.filter(
                    wallet=wallet, kind__in=kinds, expires_at=end, expired_at__isnull=True, voided_at__isnull=True
                ).values_list("remaining", flat=True),
                ZERO,
            )
            rollover_next = min(left, rollover_cap(p, included_credits=terms.included_credits))
    status = {
        "period_end": end,
        "topups_used": topups_used,
        "spend_used": spend_used,
        "rollover_next": rollover_next,
    }
    return PolicyStatus(
        contract_id=terms.id,
        policy=p,
        billing_model=terms.billing_model,
        enforcement=terms.enforcement,
        currency=terms.currency,
        period_start=start,
        period_end=end,
        topups_used=topups_used,
        last_topup_at=last_topup,
        spend_used=spend_used,
        rollover_next=rollover_next,
        lines=_lines(terms, status),
    )


@dataclass(frozen=True)
class DebitPolicyNote:
    """What a credit policy did at one debit: the top-up its crossing issued, and what the spend limit held back."""

    topup_grant_id: int | None = None
    topup_amount: Decimal | None = None
    spend_limit_note: str = ""


def debit_policy_note(*, entry_id: int | None) -> DebitPolicyNote | None:
    """For "why this charge": the auto top-up the charge's debit triggered, and the spend limit applied to it."""
    if not entry_id:
        return None
    entry = LedgerEntry.objects.filter(pk=entry_id, entry_type=LedgerEntry.EntryType.DEBIT).first()
    if entry is None:
        return None
    topup = (
        LedgerEntry.objects.filter(idempotency_key=topup_key(wallet_id=entry.wallet_id, entry_id=entry.pk))
        .select_related("grant")
        .first()
    )
    spend = entry.note if entry.note.startswith("spend limit") else ""
    if topup is None and not spend:
        return None
    return DebitPolicyNote(
        topup_grant_id=topup.grant_id if topup else None,
        topup_amount=topup.amount if topup else None,
        spend_limit_note=spend,
    )


@dataclass(frozen=True)
class TopUpView:
    grant_id: int
    at: datetime
    amount: Decimal
    price_per_credit: Decimal


def auto_topups(*, customer_id: int, start: datetime, end: datetime) -> list[TopUpView]:
    """The auto top-ups effective in [start, end), oldest first (alerts notify them; the period close bills them)."""
    return [
        TopUpView(g.pk, g.effective_at, g.amount, g.price_per_credit)
        for g in CreditGrant.objects.filter(
            wallet__customer_id=customer_id, reason_code=TOPUP_REASON, effective_at__gte=start, effective_at__lt=end
        ).order_by("effective_at", "id")
    ]


def credits_consumed(*, customer_id: int, start: datetime, end: datetime) -> Decimal | None:
    """Credits consumed in [start, end) (what a spend limit counts); None without a wallet."""
    wallet_id = Wallet.objects.filter(customer_id=customer_id).values_list("pk", flat=True).first()
    return None if wallet_id is None else wallet_consumed(wallet_id=wallet_id, start=start, end=end)
