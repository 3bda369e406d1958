"""Rollover (cap in credits or %, purchased credits optional, breakage) and recurring grants, through the wallet
services the beat tasks call."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.contracts.selectors import contract_in_force
from apps.core.actors import SYSTEM
from apps.wallets.models import CreditGrant, LedgerEntry
from apps.wallets.selectors import wallet_balance, wallet_conservation
from apps.wallets.services import (
    included_credits_issue,
    recurring_credits_issue_due,
    wallet_debit,
    wallet_expire_due,
    wallet_grant,
)
from apps.wallets.tasks import issue_included_credits

from .conftest import FEB, JAN, MAR, D

pytestmark = pytest.mark.django_db
AFTER_JAN = FEB + timedelta(seconds=1)


def _january(cust, contract, *, used="200"):
    grant = included_credits_issue(
        customer_id=cust.pk, contract_id=contract.pk, amount=contract.included_credits, period_start=JAN, period_end=FEB
    )
    wallet_debit(
        customer_id=cust.pk, amount=D(used), idempotency_key=f"use-{cust.pk}", actor=SYSTEM, at=JAN + timedelta(days=9)
    )
    return grant


def _conserved(cust):
    c = wallet_conservation(customer_id=cust.pk)
    assert c.granted - c.debited - c.expired - c.voided == c.balance == c.sum_remaining
    assert not CreditGrant.objects.filter(remaining__lt=0).exists()


def test_rollover_up_to_an_amount_cap_the_rest_lapses_as_breakage(policy_contract):
    cust, contract = policy_contract(
        included_credits=D(1000),
        policy={"rollover_enabled": True, "rollover_cap_kind": "amount", "rollover_cap": D(300)},
    )
    source = _january(cust, contract)  # 800 unused
    assert wallet_expire_due(now=AFTER_JAN) == 1

    rolled = CreditGrant.objects.get(kind=CreditGrant.Kind.ROLLOVER, wallet__customer=cust)
    assert (rolled.amount, rolled.remaining, rolled.price_per_credit) == (D(300), D(300), D(0))
    assert (rolled.effective_at, rolled.expires_at) == (FEB, MAR)  # its own expiry: the end of the next period
    expiry = LedgerEntry.objects.get(grant=source, entry_type=LedgerEntry.EntryType.EXPIRY)
    assert expiry.amount == D(-500)  # breakage: beyond the cap
    assert "breakage" in expiry.note
    moved = LedgerEntry.objects.get(grant=source, entry_type=LedgerEntry.EntryType.VOID)
    assert moved.amount == D(-300) and "rolled over" in moved.note
    assert wallet_balance(customer_id=cust.pk, now=AFTER_JAN).balance == D(300)
    _conserved(cust)

    assert wallet_expire_due(now=AFTER_JAN) == 0  # idempotent: nothing rolls twice
    assert CreditGrant.objects.filter(kind=CreditGrant.Kind.ROLLOVER, wallet__customer=cust).count() == 1

    # the rollover grant lapses at its own expiry (a rollover never rolls again)
    assert wallet_expire_due(now=MAR + timedelta(seconds=1)) >= 1
    rolled.refresh_from_db()
    assert rolled.remaining == 0 and rolled.expired_at == MAR
    assert not CreditGrant.objects.filter(kind=CreditGrant.Kind.ROLLOVER, wallet__customer=cust, expires_at__gt=MAR)
    _conserved(cust)


def test_rollover_cap_in_percent_with_purchased_credits_at_their_price(policy_contract):
    cust, contract = policy_contract(
        included_credits=D(1000),
        credit_price=D(2),
        policy={
            "rollover_enabled": True,
            "rollover_purchased": True,
            "rollover_cap_kind": "percent",
            "rollover_cap": D(100),
            "rollover_expiry_periods": 2,
        },
    )
    _january(cust, contract)  # included: 800 unused
    wallet_grant(
        customer_id=cust.pk,
        kind="purchased",
        amount=D(400),
        price_per_credit=D(2),
        effective_at=JAN,
        expires_at=FEB,
        idempotency_key=f"commit-{cust.pk}",
        actor=SYSTEM,
    )
    wallet_grant(  # free credits never roll over
        customer_id=cust.pk,
        kind="promotional",
        amount=D(50),
        effective_at=JAN,
        expires_at=FEB,
        idempotency_key=f"promo-{cust.pk}",
        actor=SYSTEM,
    )
    wallet_expire_due(now=AFTER_JAN)

    rolled = {g.price_per_credit: g for g in CreditGrant.objects.filter(kind="rollover", wallet__customer=cust)}
    assert rolled[D(0)].amount == D(800)  # included first (burn order), the cap is 100 % of 1000
    assert rolled[D(2)].amount == D(200)  # then purchased, at the price paid
    assert all(g.expires_at == datetime_apr() for g in rolled.values())  # two periods after January
    lapsed = {e.grant.kind: -e.amount for e in LedgerEntry.objects.filter(wallet__customer=cust, entry_type="expiry")}
    assert lapsed == {"purchased": D(200), "promotional": D(50)}
    _conserved(cust)


def datetime_apr():
    return MAR.replace(month=4)


def test_percent_cap_over_100_and_postpaid_policies_are_refused(policy_contract):
    from apps.contracts.services import credit_policy_set
    from apps.core.errors import ValidationFailed

    _, contract = policy_contract(included_credits=D(10))
    with pytest.raises(ValidationFailed) as exc:
        credit_policy_set(
            contract_id=contract.pk,
            actor=SYSTEM,
            change_reason="x",
            rollover_enabled=True,
            rollover_cap_kind="percent",
            rollover_cap=D(150),
        )
    assert exc.value.field == "rollover_cap"
    _, postpaid = policy_contract(billing_model="postpaid")
    with pytest.raises(ValidationFailed):
        credit_policy_set(
            contract_id=postpaid.pk,
            actor=SYSTEM,
            change_reason="x",
            topup_amount=D(10),
            topup_threshold=D(1),
            topup_monthly_cap=1,
        )


def test_no_rollover_without_a_policy_nor_past_the_contract_end(policy_contract):
    cust, contract = policy_contract(included_credits=D(1000))
    _january(cust, contract)
    wallet_expire_due(now=AFTER_JAN)
    assert not CreditGrant.objects.filter(kind="rollover", wallet__customer=cust).exists()

    ending, ending_contract = policy_contract(
        included_credits=D(1000),
        ends_at=FEB,
        policy={"rollover_enabled": True, "rollover_cap": D(300)},
    )
    _january(ending, ending_contract)
    wallet_expire_due(now=AFTER_JAN)
    assert not CreditGrant.objects.filter(kind="rollover", wallet__customer=ending).exists()
    assert wallet_balance(customer_id=ending.pk, now=AFTER_JAN).balance == 0


def test_recurring_grants_once_per_period(policy_contract):
    cust, contract = policy_contract(
        credit_price=D("0.5"), policy={"recurring_credits": D(500), "recurring_kind": "promotional"}
    )
    buyer, _ = policy_contract(
        credit_price=D("0.5"), policy={"recurring_credits": D(70), "recurring_kind": "purchased"}
    )
    mid_jan = JAN + timedelta(days=14)
    assert recurring_credits_issue_due(now=mid_jan) == 2
    assert recurring_credits_issue_due(now=mid_jan + timedelta(days=3)) == 2  # idempotent: the same grants
    grants = CreditGrant.objects.filter(wallet__customer=cust, reason_code="recurring")
    assert grants.count() == 1
    g = grants.get()
    assert (g.kind, g.amount, g.price_per_credit, g.effective_at, g.expires_at) == ("promotional", D(500), 0, JAN, FEB)
    bought = CreditGrant.objects.get(wallet__customer=buyer, reason_code="recurring")
    assert (bought.kind, bought.price_per_credit) == ("purchased", D("0.5"))  # billed at the contract's credit price

    recurring_credits_issue_due(now=FEB + timedelta(days=2))
    assert grants.count() == 2
    assert contract_in_force(customer_id=cust.pk, at=mid_jan).credit_policy.recurring_credits == D(500)


def test_the_beat_task_issues_recurring_grants(policy_contract):
    from django.utils import timezone

    cust, _ = policy_contract(starts_at=timezone.now() - timedelta(days=40), policy={"recurring_credits": D(25)})
    issue_included_credits.delay().get()
    issue_included_credits.delay().get()
    assert CreditGrant.objects.filter(wallet__customer=cust, reason_code="recurring").count() == 1


def test_purchased_credits_rolled_over_are_neither_a_purchase_nor_breakage_in_deferred_revenue(policy_contract):
    # Rolling over moves paid credits from the expiring grant to a rollover grant at the same price: deferred
    # revenue is unchanged by the move (void out, grant in: both adjustments, netting to zero); only the part
    # beyond the cap lapses (breakage).
    from apps.wallets.selectors import parse_period, rollforward

    cust, _contract = policy_contract(
        included_credits=D(0),
        credit_price=D(2),
        policy={
            "rollover_enabled": True,
            "rollover_purchased": True,
            "rollover_cap_kind": "amount",
            "rollover_cap": D(300),
        },
    )
    wallet_grant(
        customer_id=cust.pk,
        kind="purchased",
        amount=D(500),
        price_per_credit=D(2),
        effective_at=JAN,
        expires_at=FEB,
        idempotency_key=f"commit-{cust.pk}",
        actor=SYSTEM,
    )
    wallet_expire_due(now=AFTER_JAN)
    assert CreditGrant.objects.get(kind="rollover", wallet__customer=cust).amount == D(300)

    feb = rollforward(period=parse_period("2026-02"), customer_ids=[cust.pk]).rows[0]
    assert (feb.opening, feb.purchased, feb.recognized, feb.breakage, feb.adjustments, feb.closing) == (
        D(1000),
        D(0),
        D(0),
        D(400),  # 200 credits beyond the cap, at 2
        D(0),
        D(600),  # the 300 rolled-over credits, at 2
    )
