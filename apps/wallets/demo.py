"""Demo wallets: included credits (this period's), purchased commits, promotional and support credits (some expiring soon), (debits come from rated demo usage),
credit requests for finance, a void, a reversal and expiries (a paid pilot pack expires with credits left: breakage on the
deferred-revenue page). Through the services; idempotent by key."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from apps.contracts.selectors import contracts_in_force, customers_all
from apps.core.actors import SYSTEM, Actor
from apps.core.progress import ProgressBar
from apps.core.selectors import user_get_by_username

from . import services
from .models import CreditReason, CreditRequest

D = Decimal
HISTORY_DAYS = 30
SUPPORT_NOTES = {
    CreditReason.OUTAGE: "Apology for the degraded latency on the pro model.",
    CreditReason.GOODWILL: "Goodwill after a slow onboarding.",
    CreditReason.BILLING_DISPUTE: "Duplicate events billed twice during the ingestion incident.",
}


def _user(username: str):
    return user_get_by_username(username=username)


def seed(*, stdout, size: str = "small") -> None:
    now = timezone.now()
    customers = customers_all()
    if not customers:
        stdout.write("  wallets: no customers yet; skipped.")
        return
    terms = contracts_in_force(customer_ids=[c.pk for c in customers], at=now)
    support = _user("support")
    support_actor = Actor(user=support) if support else SYSTEM
    finance = _user("finance")
    finance_actor = Actor(user=finance) if finance else None
    billing = SYSTEM
    bar = ProgressBar(len(customers), "wallets and ledger history", stream=stdout)
    for index, customer in enumerate(customers):
        contract = terms.get(customer.pk)
        _seed_wallet(
            customer=customer, contract=contract, index=index, now=now, billing=billing, support_actor=support_actor
        )
        bar.advance()
    bar.finish()
    _seed_requests(customers=customers, now=now, support_actor=support_actor, finance_actor=finance_actor)
    # This period's included credits (the beat task's job); earlier periods' are issued when their usage is rated.
    included = services.included_credits_issue_due(now=now)
    if included:
        stdout.write(f"  included credits for this period on {included} contracts")
    _seed_policies(customers=customers, terms=terms, now=now, stdout=stdout)
    expired = services.wallet_expire_due(now=now)
    if expired:
        stdout.write(f"  expired {expired} demo grants")
    _seed_topup_policy(customers=customers, terms=terms, now=now, stdout=stdout)


def _policy_once(contract_id: int, reason: str, **policy) -> bool:
    from apps.contracts.selectors import credit_policy_values
    from apps.contracts.services import credit_policy_set

    if credit_policy_values(contract_id=contract_id) != credit_policy_values(contract_id=0):
        return False  # set by an earlier run (idempotent)
    credit_policy_set(contract_id=contract_id, actor=SYSTEM, change_reason=reason, **policy)
    return True


def _seed_policies(*, customers, terms, now, stdout) -> None:
    """Credit policies (issue #11): a contract whose last period's unused included credits rolled over up to a
    cap (the rest lapsed: breakage), and a pilot granted promotional credits every period."""
    wallet_backed = [c for c in customers if (t := terms.get(c.pk)) is not None and t.wallet_backed]
    rollover = next(
        (
            c
            for c in wallet_backed
            if terms[c.pk].included_credits > 0
            and terms[c.pk].starts_at < terms[c.pk].billing_period(now)[0] - timedelta(days=31)
        ),
        None,
    )
    if rollover is not None:
        t = terms[rollover.pk]
        _policy_once(
            t.id,
            "renewal: unused included credits roll over (25 % cap)",
            rollover_enabled=True,
            rollover_cap_kind="percent",
            rollover_cap=D(25),
            rollover_expiry_periods=1,
        )
        # last period's included credits (the beat task's grant), expiring at its end: the expiry below rolls
        # 25 % of them over and lets the rest lapse
        start, end = t.billing_period(t.billing_period(now)[0] - timedelta(microseconds=1))
        services.included_credits_issue(
            customer_id=rollover.pk, contract_id=t.id, amount=t.included_credits, period_start=start, period_end=end
        )
        stdout.write(f"  credit policy: rollover with a 25 % cap on {rollover.external_id}")
    pilot = next((c for c in wallet_backed if c.status == "trial"), None)
    if pilot is not None:
        _policy_once(
            terms[pilot.pk].id,
            "pilot: 500 promotional credits every month",
            recurring_credits=D(500),
            recurring_kind="promotional",
        )
        services.recurring_credits_issue_due(now=now)
        stdout.write(f"  credit policy: 500 promotional credits a period for {pilot.external_id}")


def _round_down(value: Decimal) -> Decimal:
    """To two significant digits (1,080,360 -> 1,000,000; 300,100 -> 300,000): figures people agree on."""
    digits = len(str(int(value)))
    step = D(10) ** max(digits - 2, 0)
    return (value // step) * step


def _seed_topup_policy(*, customers, terms, now, stdout) -> None:
    """An auto top-up agreed on a prepaid contract without included credits; its threshold sits just below the
    balance, so the demo usage rated next crosses it and the contract tops up (once per crossing, at most 3 a
    month)."""
    candidates = [
        c
        for c in customers
        if (t := terms.get(c.pk)) is not None
        and t.wallet_backed
        and t.included_credits == 0
        and c.status == "active"
        and not (t.credit_policy is not None and t.credit_policy.has_recurring)  # not the pilot
    ]
    if not candidates:
        return
    customer = max(candidates, key=lambda c: {"enterprise": 3, "mid_market": 2, "smb": 1}.get(c.segment, 0))
    balance = services.wallet_get_or_create(customer_id=customer.pk).balance
    threshold = max(_round_down(balance * D("0.9")), D(1000))
    if _policy_once(
        terms[customer.pk].id,
        "customer opted into auto top-up (order form addendum)",
        topup_threshold=threshold,
        topup_amount=max(_round_down(balance / 4), D(1000)),
        topup_monthly_cap=3,
    ):
        stdout.write(f"  credit policy: auto top-up below {threshold:,.0f} credits on {customer.external_id}")


def _seed_wallet(*, customer, contract, index, now, billing, support_actor) -> None:
    ext = customer.external_id
    rng = random.Random(f"wallet-{ext}")
    services.wallet_get_or_create(customer_id=customer.pk)
    prepaid = contract is not None and contract.wallet_backed
    start = now - timedelta(days=HISTORY_DAYS + 15)
    if prepaid:
        price = contract.credit_price
        scale = {"enterprise": 400_000, "mid_market": 120_000, "smb": 30_000, "startup": 12_000}[customer.segment]
        commit = D(scale * rng.choice([2, 3, 4]))
        services.wallet_grant(
            customer_id=customer.pk,
            kind="purchased",
            amount=commit,
            priority=100,
            effective_at=start,
            expires_at=start + timedelta(days=365),
            price_per_credit=price,
            reference=f"ORD-{1000 + index}",
            note="Annual commit",
            idempotency_key=f"demo:{ext}:commit",
            actor=billing,
        )
        if index % 3 == 0:  # a top-up bought last quarter that expires soon, drawn first
            services.wallet_grant(
                customer_id=customer.pk,
                kind="purchased",
                amount=D(scale // 2),
                priority=50,
                effective_at=start,
                expires_at=now + timedelta(days=rng.randint(4, 12)),
                price_per_credit=price,
                reference=f"ORD-{5000 + index}",
                note="Quarterly top-up",
                idempotency_key=f"demo:{ext}:topup",
                actor=billing,
            )
        if index % 4 == 2:  # a pilot pack bought at the start, drawn last, expired this month: breakage
            month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            services.wallet_grant(
                customer_id=customer.pk,
                kind="purchased",
                amount=D(scale // 10),
                priority=200,
                effective_at=start,
                expires_at=max(month_start, now - timedelta(days=10)),
                price_per_credit=price,
                reference=f"ORD-{7000 + index}",
                note="Pilot pack (expired unused: breakage)",
                idempotency_key=f"demo:{ext}:pilot",
                actor=billing,
            )
    if index % 2 == 0 or customer.status == "trial":
        expires = now + timedelta(days=rng.choice([-3, 9, 20, 45])) if index % 5 else now - timedelta(days=2)
        services.wallet_grant(
            customer_id=customer.pk,
            kind="promotional",
            amount=D(rng.choice([5_000, 10_000, 25_000])),
            priority=100,
            effective_at=start + timedelta(days=5),
            expires_at=expires,
            price_per_credit=D(0),
            reason_code="trial_extension" if customer.status == "trial" else "",
            reference="PROMO-LAUNCH",
            note="Launch promotion",
            idempotency_key=f"demo:{ext}:promo",
            actor=billing,
        )
    if index % 4 == 1:
        reason = rng.choice([CreditReason.OUTAGE, CreditReason.GOODWILL, CreditReason.BILLING_DISPUTE])
        services.credit_issue(
            customer_id=customer.pk,
            amount=D(rng.choice([100, 250, 400])),
            kind="support",
            reason_code=reason,
            reference=f"SUP-{2000 + index}",
            expires_at=now + timedelta(days=rng.choice([14, 60, 90])),
            note=SUPPORT_NOTES[reason],
            idempotency_key=f"demo:{ext}:support",
            actor=support_actor,
            now=now - timedelta(days=rng.randint(1, 20)),
        )
    # Debits come from the usage demo: real events rated through the engine draw these grants down.


def _seed_requests(*, customers, now, support_actor, finance_actor) -> None:
    if len(customers) < 6:
        return
    plans = [
        (customers[1], D(5000), CreditReason.OUTAGE, "SUP-3101", "Four-hour outage of the EU region.", None),
        (customers[4], D(1500), CreditReason.BILLING_DISPUTE, "SUP-3102", "Double-billed batch on the 3rd.", None),
        (customers[2], D(2500), CreditReason.GOODWILL, "SUP-3103", "Renewal goodwill.", "approve"),
        (customers[5], D(8000), CreditReason.OTHER, "SUP-3104", "Customer asked for a free month.", "reject"),
    ]
    for customer, amount, reason, ref, note, decision in plans:
        result = services.credit_issue(
            customer_id=customer.pk,
            amount=amount,
            kind="support",
            reason_code=reason,
            reference=ref,
            expires_at=now + timedelta(days=90),
            note=note,
            idempotency_key=f"demo:{customer.external_id}:{ref}",
            actor=support_actor,
        )
        request = result.request
        if (
            decision
            and request is not None
            and finance_actor is not None
            and request.status == CreditRequest.Status.PENDING
        ):
            if decision == "approve":
                services.credit_request_approve(
                    request_id=request.pk, actor=finance_actor, comment="Approved: renewal at risk."
                )
            else:
                services.credit_request_reject(
                    request_id=request.pk,
                    actor=finance_actor,
                    comment="A free month needs a contract amendment, not a credit.",
                )
    # a grant sold by mistake and voided by finance
    if finance_actor is not None:
        customer = customers[3]
        grant = services.wallet_grant(
            customer_id=customer.pk,
            kind="promotional",
            amount=D(3000),
            reference="PROMO-WRONG",
            note="Promotion applied to the wrong account",
            idempotency_key=f"demo:{customer.external_id}:wrong-promo",
            actor=SYSTEM,
        )
        if grant.voided_at is None:
            services.grant_void(
                grant_id=grant.pk,
                idempotency_key=f"demo:{customer.external_id}:void-wrong-promo",
                actor=finance_actor,
                reason="Applied to the wrong account (see PROMO-WRONG).",
            )
