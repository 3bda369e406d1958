"""Property tests (PostgreSQL in CI): whatever the debits, the policies keep the wallet's money exact.

- auto top-up: the top-ups issued are exactly the crossings a serial model of the balance predicts (within the
  monthly cap), and the wallet conserves: granted - debited - expired - voided == balance == sum(remaining);
- rollover: rolled + lapsed == what was unused, rolled <= the cap, and the wallet conserves after the expiry.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.contracts.services import credit_policy_set
from apps.core.actors import SYSTEM
from apps.wallets.models import CreditGrant, LedgerEntry
from apps.wallets.selectors import wallet_conservation
from apps.wallets.services import (
    DebitRequest,
    included_credits_issue,
    wallet_debits,
    wallet_expire_due,
    wallet_grant,
)
from tests.contracts import factories as f

from .conftest import FEB, JAN

pytestmark = pytest.mark.django_db
_keys = itertools.count(1)
SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
amounts = st.integers(min_value=1, max_value=4000).map(Decimal)


def _contract(**policy):
    cust = f.customer()
    contract = f.contract(
        cust, billing_model="prepaid", enforcement="hard", starts_at=JAN, included_credits=Decimal(1000)
    )
    credit_policy_set(contract_id=contract.pk, actor=SYSTEM, change_reason="property", **policy)
    return cust, contract


def _conserves(cust):
    c = wallet_conservation(customer_id=cust.pk)
    assert c.holds, c
    assert not CreditGrant.objects.filter(wallet__customer=cust, remaining__lt=0).exists()


@SETTINGS
@given(
    start=amounts,
    threshold=amounts,
    topup=amounts,
    cap=st.integers(min_value=1, max_value=4),
    debits=st.lists(st.lists(amounts, min_size=1, max_size=3), min_size=1, max_size=8),
)
def test_top_ups_are_exactly_the_crossings(start, threshold, topup, cap, debits):
    cust, _ = _contract(topup_threshold=threshold, topup_amount=topup, topup_monthly_cap=cap)
    wallet_grant(
        customer_id=cust.pk,
        kind="purchased",
        amount=start,
        effective_at=JAN,
        idempotency_key=f"p-{next(_keys)}",
        actor=SYSTEM,
    )
    balance, expected = start, 0
    at = JAN + timedelta(days=2)
    for batch in debits:  # one wallet_debits call per batch: top-ups come after the batch's debits
        crossings = 0
        for amount in batch:
            before, balance = balance, balance - min(amount, balance)
            if before >= threshold > balance and expected + crossings < cap:
                crossings += 1
        wallet_debits(
            requests=[
                DebitRequest(customer_id=cust.pk, amount=a, idempotency_key=f"d-{next(_keys)}", at=at) for a in batch
            ],
            actor=SYSTEM,
        )
        balance += topup * crossings
        expected += crossings
    assert CreditGrant.objects.filter(wallet__customer=cust, reason_code="auto_topup").count() == expected
    assert wallet_conservation(customer_id=cust.pk).balance == balance
    _conserves(cust)


@SETTINGS
@given(
    used=st.integers(min_value=0, max_value=1000).map(Decimal),
    kind=st.sampled_from(["amount", "percent"]),
    cap=st.integers(min_value=1, max_value=100).map(Decimal),
    purchased=st.integers(min_value=0, max_value=500).map(Decimal),
)
def test_rollover_splits_unused_credits_exactly(used, kind, cap, purchased):
    cust, contract = _contract(rollover_enabled=True, rollover_cap_kind=kind, rollover_cap=cap, rollover_purchased=True)
    included_credits_issue(
        customer_id=cust.pk, contract_id=contract.pk, amount=Decimal(1000), period_start=JAN, period_end=FEB
    )
    if purchased:
        wallet_grant(
            customer_id=cust.pk,
            kind="purchased",
            amount=purchased,
            price_per_credit=Decimal("0.1"),
            effective_at=JAN,
            expires_at=FEB,
            idempotency_key=f"p-{next(_keys)}",
            actor=SYSTEM,
        )
    if used:
        wallet_debits(
            requests=[DebitRequest(customer_id=cust.pk, amount=used, idempotency_key=f"u-{next(_keys)}", at=JAN)],
            actor=SYSTEM,
        )
    unused = Decimal(1000) - used + purchased
    wallet_expire_due(now=FEB + timedelta(seconds=1))
    rolled = sum(
        CreditGrant.objects.filter(wallet__customer=cust, kind="rollover").values_list("amount", flat=True), Decimal(0)
    )
    lapsed = -sum(
        LedgerEntry.objects.filter(wallet__customer=cust, entry_type="expiry").values_list("amount", flat=True),
        Decimal(0),
    )
    limit = cap if kind == "amount" else Decimal(1000) * cap / 100
    assert rolled == min(unused, limit)
    assert rolled + lapsed == unused
    _conserves(cust)
