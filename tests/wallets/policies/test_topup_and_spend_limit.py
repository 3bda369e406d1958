"""Auto top-up (once per crossing, monthly cap, replay) and the spend limit per period (hard: not drawn; soft:
drawn), through wallet_debit / wallet_debits as rating calls them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.core.actors import SYSTEM
from apps.wallets.models import CreditGrant, LedgerEntry
from apps.wallets.services import DebitRequest, topup_key, wallet_debit, wallet_debits, wallet_grant

from .conftest import FEB, JAN, D

pytestmark = pytest.mark.django_db
TOPUP = {"topup_threshold": D(2000), "topup_amount": D(10000), "topup_monthly_cap": 2}


def _fund(cust, amount="3000"):
    wallet_grant(
        customer_id=cust.pk,
        kind="purchased",
        amount=D(amount),
        price_per_credit=D(1),
        effective_at=JAN,
        idempotency_key=f"fund-{cust.pk}",
        actor=SYSTEM,
    )


def _debit(cust, amount, key, *, days=5):
    return wallet_debit(
        customer_id=cust.pk, amount=D(amount), idempotency_key=key, actor=SYSTEM, at=JAN + timedelta(days=days)
    )


def _topups(cust):
    return list(CreditGrant.objects.filter(wallet__customer=cust, reason_code="auto_topup").order_by("id"))


def test_top_up_once_per_crossing_at_the_credit_price_within_the_monthly_cap(policy_contract):
    cust, contract = policy_contract(credit_price=D("0.02"), policy=TOPUP)
    _fund(cust)
    first = _debit(cust, 1500, "d1")  # 3000 -> 1500: crosses 2000
    [topup] = _topups(cust)
    assert (topup.kind, topup.amount, topup.price_per_credit) == ("purchased", D(10000), D("0.02"))
    assert f"contract #{contract.pk}" in topup.reference and "agreed in contract" in topup.note  # who agreed it
    assert (
        LedgerEntry.objects.get(idempotency_key=topup_key(wallet_id=topup.wallet_id, entry_id=first.entry_id)).grant
        == topup
    )
    assert topup.wallet.balance == D(11500)

    _debit(cust, 100, "d2")  # 11500 -> 11400: no crossing
    _debit(cust, 100, "d1")  # a replay: nothing new
    assert len(_topups(cust)) == 1
    _debit(cust, 9500, "d3")  # 11400 -> 1900: the second crossing
    assert len(_topups(cust)) == 2
    _debit(cust, 10000, "d4")  # 11900 -> 1900: crosses again, but the month's cap (2) is used up
    assert len(_topups(cust)) == 2
    _debit(cust, 5000, "d5", days=40)  # February: a new month, below the threshold already: no crossing
    assert len(_topups(cust)) == 2


def test_top_up_after_a_shortfall_and_in_a_bulk_draw(policy_contract):
    cust, _ = policy_contract(policy=TOPUP)
    other, _ = policy_contract(policy=TOPUP)
    _fund(cust, "2500")
    _fund(other, "2500")
    results = wallet_debits(
        requests=[
            DebitRequest(customer_id=cust.pk, amount=D(3000), idempotency_key="b1", at=JAN + timedelta(days=1)),
            DebitRequest(customer_id=other.pk, amount=D(100), idempotency_key="b2", at=JAN + timedelta(days=1)),
        ],
        actor=SYSTEM,
    )
    assert results[0].shortfall == D(500)  # the top-up comes after the crossing debit, it does not cover it
    assert len(_topups(cust)) == 1 and _topups(other) == []


def test_hard_spend_limit_stops_drawing_soft_draws_on(policy_contract):
    hard, _ = policy_contract(policy={"spend_limit": D(1000)})
    soft, _ = policy_contract(enforcement="soft", policy={"spend_limit": D(1000)})
    for cust in (hard, soft):
        _fund(cust)
        _debit(cust, 600, f"s1-{cust.pk}")
    over = _debit(hard, 600, "s2-hard")
    assert (over.drawn, over.shortfall) == (D(400), D(200))
    assert "spend limit" in LedgerEntry.objects.get(pk=over.entry_id).note
    assert _debit(hard, 50, "s3-hard").drawn == 0
    assert _debit(soft, 600, "s2-soft").drawn == D(600)
    # the next period starts from zero
    assert _debit(hard, 300, "s4-hard", days=35).drawn == D(300)
    assert JAN + timedelta(days=35) > FEB


def test_give_backs_free_the_spend_limit(policy_contract):
    from apps.wallets.services import wallet_reverse

    cust, _ = policy_contract(policy={"spend_limit": D(1000)})
    _fund(cust)
    first = _debit(cust, 1000, "g1")
    assert _debit(cust, 10, "g2").drawn == 0
    wallet_reverse(entry_id=first.entry_id, amount=D(300), idempotency_key="g-rev", actor=SYSTEM)
    assert _debit(cust, 500, "g3").drawn == D(300)
