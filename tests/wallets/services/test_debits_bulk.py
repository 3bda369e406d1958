"""`wallet_debits` (many debits in a handful of statements, what rating uses) leaves exactly the ledger that one
`wallet_debit` per request, in order, leaves: entries, allocations, grant remainders, balances."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.core.errors import Conflict, ValidationFailed
from apps.wallets.models import CreditGrant, LedgerAllocation, LedgerEntry, Wallet
from apps.wallets.selectors import wallet_conservation
from apps.wallets.services import DebitRequest, wallet_debit, wallet_debits
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db
D = Decimal


def _grants(cust, now):
    """Grants that exercise the burn-down order and the instant: priority, expiry, free before paid, a grant not
    effective yet at the first debit, one that expires between the two debits."""
    return [
        f.grant(cust, "10", price_per_credit=D("0.5"), expires_at=now + timedelta(days=30)),
        f.grant(cust, "7.5", kind="promotional", expires_at=now + timedelta(days=30)),
        f.grant(cust, "12", priority=10, price_per_credit=D("0.3"), effective_at=now - timedelta(days=9)),
        f.grant(cust, "4", priority=5, effective_at=now - timedelta(days=2)),
        f.grant(cust, "3", priority=1, effective_at=now - timedelta(days=9), expires_at=now - timedelta(days=1)),
        f.grant(cust, "100", price_per_credit=D("0.013")),
    ]


def _requests(customers, now):
    a, b, c = customers
    return [
        (a, D("8.25"), now - timedelta(days=3)),  # before the priority-5 grant, while the priority-1 one lasts
        (b, D("0"), now),  # nothing to draw: no entry
        (c, D("500"), now),  # more than the wallet holds: a shortfall
        (a, D("19.000000000001"), now),  # a second debit of the same wallet, after the first
        (b, D("33.3"), now - timedelta(hours=1)),
    ]


def _ledger(customers):
    """Everything the debits wrote, per customer, with grants named by their position (ids differ)."""
    out = []
    for cust in customers:
        grants = list(CreditGrant.objects.filter(wallet__customer=cust).order_by("id").values_list("id", flat=True))
        index = {g: i for i, g in enumerate(grants)}
        entries = []
        for e in LedgerEntry.objects.filter(wallet__customer=cust, entry_type="debit").order_by("id"):
            allocations = [
                (index[a.grant_id], a.amount, a.revenue)
                for a in LedgerAllocation.objects.filter(entry=e).order_by("id")
            ]
            entries.append((e.amount, e.requested, e.balance_after, e.revenue, e.effective_at, allocations))
        remaining = list(CreditGrant.objects.filter(wallet__customer=cust).order_by("id").values_list("remaining"))
        out.append((entries, remaining, Wallet.objects.get(customer=cust).balance))
    return out


def test_many_debits_at_once_leave_the_same_ledger_as_one_debit_each_in_order():
    now = timezone.now()
    one_by_one = [f.customer() for _ in range(3)]
    at_once = [f.customer() for _ in range(3)]
    for cust in one_by_one + at_once:
        _grants(cust, now)

    expected = [
        wallet_debit(customer_id=cust.pk, amount=amount, at=at, idempotency_key=f"seq-{i}", actor=SYSTEM)
        for i, (cust, amount, at) in enumerate(_requests(one_by_one, now))
    ]
    with CaptureQueriesContext(connection) as queries:
        results = wallet_debits(
            requests=[
                DebitRequest(customer_id=cust.pk, amount=amount, at=at, idempotency_key=f"bulk-{i}")
                for i, (cust, amount, at) in enumerate(_requests(at_once, now))
            ],
            actor=SYSTEM,
        )

    assert _ledger(at_once) == _ledger(one_by_one)
    assert len(queries) <= 12  # a handful of statements, not a few per debit
    for got, want in zip(results, expected, strict=True):
        assert (got.requested, got.drawn, got.shortfall, got.revenue, got.balance_after) == (
            want.requested,
            want.drawn,
            want.shortfall,
            want.revenue,
            want.balance_after,
        )
        assert [(a.amount, a.revenue, a.kind, a.price_per_credit) for a in got.allocations] == [
            (a.amount, a.revenue, a.kind, a.price_per_credit) for a in want.allocations
        ]
        assert (got.entry_id is None) == (want.entry_id is None)
    assert results[2].shortfall > 0
    for cust in at_once:
        assert wallet_conservation(customer_id=cust.pk).holds


def test_a_repeated_call_replays_the_first_results_and_changes_nothing():
    now = timezone.now()
    customers = [f.customer() for _ in range(2)]
    for cust in customers:
        _grants(cust, now)
    requests = [
        DebitRequest(customer_id=customers[0].pk, amount=D("5"), idempotency_key="usage:k:c1", at=now),
        DebitRequest(customer_id=customers[1].pk, amount=D("6"), idempotency_key="usage:k:c2", at=now),
    ]
    first = wallet_debits(requests=requests, actor=SYSTEM)
    before = _ledger(customers)
    again = wallet_debits(requests=requests, actor=SYSTEM)
    assert _ledger(customers) == before
    assert [r.entry_id for r in again] == [r.entry_id for r in first]
    assert all(r.replayed for r in again) and not any(r.replayed for r in first)


def test_a_key_used_by_another_wallet_or_twice_in_one_call_is_refused():
    customers = [f.customer() for _ in range(2)]
    for cust in customers:
        f.grant(cust, "10")
    wallet_debit(customer_id=customers[0].pk, amount=D("1"), idempotency_key="taken", actor=SYSTEM)
    with pytest.raises(Conflict):
        wallet_debits(
            requests=[DebitRequest(customer_id=customers[1].pk, amount=D("1"), idempotency_key="taken")], actor=SYSTEM
        )
    with pytest.raises(ValidationFailed):
        wallet_debits(
            requests=[
                DebitRequest(customer_id=customers[0].pk, amount=D("1"), idempotency_key="twice"),
                DebitRequest(customer_id=customers[1].pk, amount=D("1"), idempotency_key="twice"),
            ],
            actor=SYSTEM,
        )
    with pytest.raises(ValidationFailed):
        wallet_debits(
            requests=[DebitRequest(customer_id=customers[0].pk, amount=D("-1"), idempotency_key="negative")],
            actor=SYSTEM,
        )
