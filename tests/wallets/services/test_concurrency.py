"""Concurrent drawdown on real PostgreSQL connections.

Ten threads, each with its own database connection, start together on a barrier: eight debit one wallet
(five grants of mixed priority and expiry; total demand about 2.6x what is drawable and 2.2x the balance;
some idempotency keys repeated across threads) while one thread grants credits and one expires a due grant.
Afterwards the wallet must reconcile exactly. The same scenario against a naive read-then-write debit, kept here,
must break it: that is what the locking in wallet_debit is for.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.wallets.models import CreditGrant, LedgerAllocation, LedgerEntry, Wallet
from apps.wallets.selectors import wallet_conservation
from apps.wallets.services import wallet_debit, wallet_expire_due, wallet_grant
from tests.contracts import factories as f

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs real concurrent connections and row locks: run with DATABASE_URL=postgres://...",
    ),
]
D = Decimal
DEBIT_THREADS = 8


def naive_debit(*, customer_id: int, amount: Decimal, idempotency_key: str, reference: str = "", actor=SYSTEM, at=None):
    """The bug the real service avoids: read balances without locks, think, then write absolute values."""
    at = at or timezone.now()
    with transaction.atomic():
        wallet = Wallet.objects.get(customer_id=customer_id)
        if LedgerEntry.objects.filter(idempotency_key=idempotency_key).exists():
            return None
        grants = list(
            CreditGrant.objects.filter(
                wallet=wallet, remaining__gt=0, effective_at__lte=at, expired_at__isnull=True, voided_at__isnull=True
            )
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
            .order_by("priority", F("expires_at").asc(nulls_last=True), "price_per_credit", "id")
        )
        time.sleep(0.05)  # the window in which other requests read the same numbers
        left, draws = amount, []
        for grant in grants:
            take = min(grant.remaining, left)
            if take:
                draws.append((grant, take))
                left -= take
        drawn = amount - left
        for grant, take in draws:
            CreditGrant.objects.filter(pk=grant.pk).update(remaining=grant.remaining - take)
        Wallet.objects.filter(pk=wallet.pk).update(balance=wallet.balance - drawn)
        entry = LedgerEntry.objects.create(
            wallet=wallet,
            entry_type="debit",
            amount=-drawn,
            requested=amount,
            balance_after=wallet.balance - drawn,
            idempotency_key=idempotency_key,
            effective_at=at,
        )
        LedgerAllocation.objects.bulk_create([LedgerAllocation(entry=entry, grant=g, amount=-t) for g, t in draws])
        return entry


def run_scenario(debit) -> tuple[list[str], dict]:
    now = timezone.now()
    yesterday = now - timedelta(days=1)
    cust = f.customer()
    f.grant(
        cust, 300, priority=10, effective_at=yesterday, expires_at=now + timedelta(days=2), price_per_credit=D("0.01")
    )
    f.grant(cust, 500, kind="promotional", effective_at=yesterday, expires_at=now + timedelta(days=10))
    f.grant(cust, 200, effective_at=yesterday, expires_at=now + timedelta(days=10), price_per_credit=D("0.01"))
    f.grant(cust, 400, effective_at=yesterday, price_per_credit=D("0.02"))
    # due for expiry: not drawable at `now`, expired by a concurrent thread
    f.grant(
        cust,
        250,
        kind="promotional",
        priority=5,
        effective_at=now - timedelta(days=3),
        expires_at=now - timedelta(seconds=1),
    )
    drawable = D(1400)
    initial_balance = Wallet.objects.get(customer=cust).balance  # 1650

    # 8 threads x 3 debits; keys dup-0 and dup-1 are each sent by two threads
    plan: dict[int, list[tuple[str, Decimal]]] = {}
    for i in range(DEBIT_THREADS):
        plan[i] = [(f"t{i}-d{j}", D(140 + 10 * ((i + j) % 4))) for j in range(3)]
    plan[1][0] = plan[0][0] = ("dup-0", D(150))
    plan[3][1] = plan[2][1] = ("dup-1", D(170))
    demand = sum(dict(op for ops in plan.values() for op in ops).values())
    assert D(2) * drawable <= demand <= D(3) * drawable and demand >= D(2) * initial_balance

    barrier = threading.Barrier(DEBIT_THREADS + 2)
    errors: list[str] = []
    results: dict[str, list] = {}
    lock = threading.Lock()

    def debit_worker(i):
        try:
            barrier.wait()
            for key, amount in plan[i]:
                try:
                    result = debit(customer_id=cust.pk, amount=amount, idempotency_key=key, actor=SYSTEM, at=now)
                    with lock:
                        results.setdefault(key, []).append(result)
                except Exception as exc:  # noqa: BLE001 - the naive version may hit the unique key
                    with lock:
                        errors.append(f"{key}: {type(exc).__name__}")
        finally:
            connection.close()

    def grant_worker():
        try:
            barrier.wait()
            for _ in range(2):  # the same key twice: one grant
                wallet_grant(
                    customer_id=cust.pk,
                    kind="purchased",
                    amount=D(600),
                    priority=100,
                    effective_at=now + timedelta(hours=1),
                    price_per_credit=D("0.01"),
                    idempotency_key=f"top-up-{cust.pk}",
                    actor=SYSTEM,
                )
        finally:
            connection.close()

    def expire_worker():
        try:
            barrier.wait()
            wallet_expire_due(now=now)
        finally:
            connection.close()

    threads = [threading.Thread(target=debit_worker, args=(i,)) for i in range(DEBIT_THREADS)]
    threads += [threading.Thread(target=grant_worker), threading.Thread(target=expire_worker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"

    violations = []
    grants = list(CreditGrant.objects.filter(wallet__customer=cust))
    if any(g.remaining < 0 for g in grants):
        violations.append("negative remaining")
    c = wallet_conservation(customer_id=cust.pk)
    if not (c.granted - c.debited - c.expired - c.voided == c.balance == c.sum_remaining):
        violations.append(
            f"conservation broken: granted {c.granted} - debited {c.debited} - expired {c.expired} "
            f"- voided {c.voided} != balance {c.balance} / sum(remaining) {c.sum_remaining}"
        )
    if c.debited != min(demand, drawable):
        violations.append(f"debited {c.debited} != min(demand {demand}, supply {drawable})")
    keys = Counter(LedgerEntry.objects.values_list("idempotency_key", flat=True))
    if any(n > 1 for n in keys.values()):
        violations.append("more than one entry for a key")
    for grant in grants:  # per grant: amount - drawn + given back - expired - voided == remaining
        allocated = LedgerAllocation.objects.filter(grant=grant).aggregate(s=Sum("amount"))["s"] or D(0)
        closed = LedgerEntry.objects.filter(grant=grant, entry_type__in=["expiry", "void"]).aggregate(s=Sum("amount"))[
            "s"
        ] or D(0)
        if grant.amount + allocated + closed != grant.remaining:
            violations.append(f"grant {grant.pk} does not reconcile with its allocations")
    for entry in LedgerEntry.objects.filter(wallet__customer=cust, entry_type="debit"):
        allocated = entry.allocations.aggregate(s=Sum("amount"))["s"] or D(0)
        if allocated != entry.amount:
            violations.append(f"debit {entry.pk} allocations do not add up")
    # serially, in commit order, each debit must have drawn min(requested, what was drawable before it)
    available = drawable
    for entry in LedgerEntry.objects.filter(wallet__customer=cust, entry_type="debit").order_by("id"):
        if -entry.amount != min(entry.requested, available):
            violations.append(f"debit {entry.pk} drew {-entry.amount}, expected {min(entry.requested, available)}")
            break
        available += entry.amount
    info = {"customer": cust, "demand": demand, "results": results, "errors": errors, "conservation": c}
    return violations, info


@pytest.mark.django_db(transaction=True)
def test_concurrent_debits_with_grant_and_expiry_conserve_credits():
    violations, info = run_scenario(wallet_debit)
    assert violations == []
    assert info["errors"] == []
    c = info["conservation"]
    assert c.balance == D(600) and c.expired == D(250) and c.granted == D(1650) + D(600)
    for key in ("dup-0", "dup-1"):
        first, second = info["results"][key]
        assert first.entry_id == second.entry_id and first.drawn == second.drawn
        assert first.replayed != second.replayed
    assert LedgerEntry.objects.filter(entry_type="grant", idempotency_key__startswith="top-up-").count() == 1
    assert LedgerEntry.objects.filter(entry_type="expiry").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_scenario_breaks_a_naive_read_then_write_debit():
    violations, _ = run_scenario(naive_debit)
    assert violations, "the naive debit should lose updates under concurrency"
    assert any("conservation broken" in v or "debited" in v or "reconcile" in v for v in violations)
