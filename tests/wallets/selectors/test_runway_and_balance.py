from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.wallets.selectors import RunwayGrant, project_runway, wallet_balance, wallet_runway
from apps.wallets.services import wallet_debit, wallet_reverse
from tests.contracts import factories as f

D = Decimal
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def g(remaining, *, expires_days=None, effective_days=-1, priority=100, price=None, id=0):
    return RunwayGrant(
        remaining=D(remaining),
        priority=priority,
        effective_at=NOW + timedelta(days=effective_days),
        expires_at=None if expires_days is None else NOW + timedelta(days=expires_days),
        price_per_credit=D(0) if price is None else price,
        created_at=NOW - timedelta(days=10),
        id=id,
    )


def test_runway_plain_burn():
    at, lost = project_runway(grants=[g(1000)], burn_per_day=D(100), now=NOW)
    assert at == NOW + timedelta(days=10) and lost == 0


def test_no_burn_never_runs_out_unless_everything_expires():
    assert project_runway(grants=[g(1000)], burn_per_day=D(0), now=NOW) == (None, D(0))
    at, lost = project_runway(grants=[g(1000, expires_days=30)], burn_per_day=D(0), now=NOW)
    assert at == NOW + timedelta(days=30) and lost == D(1000)


def test_expiring_credits_are_burnt_first_and_the_rest_lost():
    # 500 expire in 2 days; at 100/day only 200 of them are used, 300 are lost; the 1000 last 10 more days
    at, lost = project_runway(grants=[g(1000, id=1), g(500, expires_days=2, id=2)], burn_per_day=D(100), now=NOW)
    assert lost == D(300)
    assert at == NOW + timedelta(days=12)


def test_future_grant_extends_the_runway_and_a_gap_counts_as_running_out():
    # 100 credits at 50/day last 2 days; a top-up in 5 days comes too late
    at, _ = project_runway(grants=[g(100), g(1000, effective_days=5)], burn_per_day=D(50), now=NOW)
    assert at == NOW + timedelta(days=2)
    # arriving in time, it extends the runway
    at, _ = project_runway(grants=[g(100), g(1000, effective_days=1)], burn_per_day=D(50), now=NOW)
    assert at == NOW + timedelta(days=22)


def test_already_due_grants_do_not_count():
    at, lost = project_runway(grants=[g(100), g(900, expires_days=-1)], burn_per_day=D(100), now=NOW)
    assert at == NOW + timedelta(days=1) and lost == D(900)


def test_beyond_the_horizon_is_none():
    assert project_runway(grants=[g(10_000_000)], burn_per_day=D(1), now=NOW)[0] is None


@pytest.mark.django_db
def test_wallet_runway_from_trailing_14_days_net_of_reversals():
    cust = f.customer()
    now = timezone.now()
    f.grant(cust, 10_000, effective_at=now - timedelta(days=40))
    for day in range(1, 15):
        wallet_debit(
            customer_id=cust.pk,
            amount=D(100),
            idempotency_key=f"d{day}",
            actor=SYSTEM,
            at=now - timedelta(days=day, hours=-1),
        )
    old = wallet_debit(
        customer_id=cust.pk, amount=D(5000), idempotency_key="old", actor=SYSTEM, at=now - timedelta(days=20)
    )  # outside the window
    assert old.drawn == D(5000)
    last = wallet_debit(
        customer_id=cust.pk, amount=D(140), idempotency_key="last", actor=SYSTEM, at=now - timedelta(hours=2)
    )
    wallet_reverse(entry_id=last.entry_id, idempotency_key="r", actor=SYSTEM)  # reversal "now"
    runway = wallet_runway(customer_id=cust.pk)
    assert runway.burn_per_day == D(100)
    assert runway.balance == D(10_000 - 1400 - 5000)
    assert runway.runs_out_on == (now + timedelta(days=36)).date()  # 3,600 credits at 100 a day
    assert runway.days_left == D("36.0")


@pytest.mark.django_db
def test_wallet_balance_lists_open_grants_in_burn_order():
    cust = f.customer()
    now = datetime(2026, 11, 20, tzinfo=UTC)
    late = f.grant(cust, 10, effective_at=now - timedelta(days=1))
    soon = f.grant(
        cust, 20, kind="promotional", effective_at=now - timedelta(days=1), expires_at=now + timedelta(days=3)
    )
    future = f.grant(cust, 30, effective_at=now + timedelta(days=2))
    used = f.grant(cust, 5, priority=1, effective_at=now - timedelta(days=1))
    wallet_debit(customer_id=cust.pk, amount=D(5), idempotency_key="x", actor=SYSTEM, at=now)
    view = wallet_balance(customer_id=cust.pk, now=now)
    assert view.balance == D(60) and view.unit == "credits"
    assert [x.id for x in view.grants] == [soon.pk, late.pk, future.pk]
    assert used.pk not in [x.id for x in view.grants]
    assert view.available_now == D(30) and view.expiring_30d == D(20)
    assert [x.status for x in view.grants] == ["active", "active", "scheduled"]
    empty = wallet_balance(customer_id=f.customer().pk)
    assert empty.balance == 0 and empty.grants == []
