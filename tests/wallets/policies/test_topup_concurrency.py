"""Auto top-up once per crossing under concurrent draws: sixteen threads, each on its own PostgreSQL connection,
start together and debit one wallet through `wallet_debits` (the draw rating uses). The wallet lock serializes
them, so the top-ups are exactly those the serial sequence of crossings implies, each tied to its crossing debit,
and the wallet reconciles."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections

from apps.contracts.services import credit_policy_set
from apps.core.actors import SYSTEM
from apps.wallets.models import CreditGrant, LedgerEntry
from apps.wallets.selectors import wallet_conservation
from apps.wallets.services import DebitRequest, topup_key, wallet_debits, wallet_grant
from tests.contracts import factories as f

from .conftest import JAN

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real concurrent connections and row locks"),
]
D = Decimal
THREADS = 16
THRESHOLD, TOPUP, START, DEBIT = D(5000), D(3000), D(10000), D(1000)


def _expected_topups() -> int:
    balance, count = START, 0
    for _ in range(THREADS):
        before, balance = balance, balance - min(DEBIT, balance)
        if before >= THRESHOLD > balance:
            balance += TOPUP
            count += 1
    return count


def test_one_top_up_per_crossing_under_concurrent_draws():
    cust = f.customer()
    contract = f.contract(cust, billing_model="prepaid", enforcement="hard", starts_at=JAN, credit_price=D("0.01"))
    credit_policy_set(
        contract_id=contract.pk,
        actor=SYSTEM,
        change_reason="pilot",
        topup_threshold=THRESHOLD,
        topup_amount=TOPUP,
        topup_monthly_cap=50,
    )
    wallet_grant(
        customer_id=cust.pk, kind="purchased", amount=START, effective_at=JAN, idempotency_key="start", actor=SYSTEM
    )
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait(30)
            wallet_debits(
                requests=[
                    DebitRequest(customer_id=cust.pk, amount=DEBIT, idempotency_key=f"c{i}", at=JAN + timedelta(days=3))
                ],
                actor=SYSTEM,
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert not errors, errors

    topups = list(CreditGrant.objects.filter(wallet__customer=cust, reason_code="auto_topup"))
    expected = _expected_topups()
    assert expected > 1 and len(topups) == expected
    debits = {e.pk: e for e in LedgerEntry.objects.filter(wallet__customer=cust, entry_type="debit")}
    assert len(debits) == THREADS
    crossings = [e for e in debits.values() if e.balance_after - e.amount >= THRESHOLD > e.balance_after]
    assert len(crossings) == expected  # every crossing got its top-up, no other debit did
    keys = set(
        LedgerEntry.objects.filter(grant__in=topups, entry_type="grant").values_list("idempotency_key", flat=True)
    )
    assert keys == {topup_key(wallet_id=e.wallet_id, entry_id=e.pk) for e in crossings}
    c = wallet_conservation(customer_id=cust.pk)
    assert c.granted - c.debited - c.expired - c.voided == c.balance == c.sum_remaining
    assert c.balance == START + TOPUP * expected - DEBIT * THREADS
