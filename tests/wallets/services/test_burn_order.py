"""Burn-down order (DESIGN, issue 8.2): priority, earliest expiry, free before paid (never a price ranking),
oldest first. Ties are decided by the next key only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.wallets.services import wallet_debit, wallet_grant
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db
D = Decimal


def _grant(customer, key, *, price="0", priority=100, expires=None, kind=None):
    return wallet_grant(
        customer_id=customer.pk,
        kind=kind or ("purchased" if D(price) else "promotional"),
        amount=D(10),
        priority=priority,
        price_per_credit=D(price),
        expires_at=expires,
        effective_at=timezone.now() - timedelta(days=1),
        idempotency_key=key,
        actor=SYSTEM,
    )


def _drawn(customer, amount, key):
    result = wallet_debit(customer_id=customer.pk, amount=D(amount), idempotency_key=key, actor=SYSTEM)
    return [a.grant_id for a in result.allocations]


def test_two_paid_grants_tied_on_priority_and_expiry_draw_oldest_first_not_cheapest():
    c = f.customer("burn-paid")
    expires = timezone.now() + timedelta(days=30)
    older_dear = _grant(c, "bo-1", price="0.02", expires=expires)
    newer_cheap = _grant(c, "bo-2", price="0.01", expires=expires)
    assert _drawn(c, 15, "bo-d1") == [older_dear.pk, newer_cheap.pk]


def test_free_before_paid_when_priority_and_expiry_tie_even_if_the_paid_grant_is_older():
    c = f.customer("burn-free")
    paid = _grant(c, "bf-1", price="0.02")
    free = _grant(c, "bf-2", price="0")
    assert _drawn(c, 15, "bf-d1") == [free.pk, paid.pk]


def test_priority_then_expiry_come_before_free_or_paid():
    c = f.customer("burn-prio")
    now = timezone.now()
    free_late = _grant(c, "bp-1", price="0", expires=now + timedelta(days=60))
    paid_soon = _grant(c, "bp-2", price="0.05", expires=now + timedelta(days=5))
    paid_first = _grant(c, "bp-3", price="0.05", priority=10)
    assert _drawn(c, 30, "bp-d1") == [paid_first.pk, paid_soon.pk, free_late.pk]
