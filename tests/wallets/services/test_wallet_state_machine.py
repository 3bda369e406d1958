"""Hypothesis stateful test: grant, debit, expire, void and reverse against a small pure-Python wallet model."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from apps.core.actors import SYSTEM
from apps.core.errors import Conflict
from apps.wallets.models import CreditGrant, Wallet
from apps.wallets.selectors import wallet_conservation
from apps.wallets.services import (
    grant_void,
    wallet_debit,
    wallet_expire_due,
    wallet_get_or_create,
    wallet_grant,
    wallet_reverse,
)
from tests.contracts import factories as f

D = Decimal
T0 = datetime(2026, 1, 1, tzinfo=UTC)
_ids = itertools.count(1)

amounts = st.integers(min_value=1, max_value=50_000).map(lambda cents: D(cents) / 100)


@dataclass
class ModelGrant:
    db_id: int
    amount: Decimal
    remaining: Decimal
    priority: int
    effective_at: datetime
    expires_at: datetime | None
    price: Decimal
    closed: str = ""  # "", "expired", "voided"

    def burn_key(self):
        return (self.priority, self.expires_at is None, self.expires_at or T0, self.price != 0, self.db_id)


@dataclass
class ModelDebit:
    entry_id: int
    key: str
    requested: Decimal
    allocations: list[tuple[int, Decimal]] = field(default_factory=list)  # (grant index, outstanding)


class WalletMachine(RuleBasedStateMachine):
    """The model: grants with remaining; debits draw in burn-down order from grants usable at the clock."""

    @initialize()
    def setup(self):
        self.run = next(_ids)
        self.customer = f.customer(f"sm-{self.run}")
        wallet_get_or_create(customer_id=self.customer.pk)
        self.clock = T0
        self.grants: list[ModelGrant] = []
        self.debits: list[ModelDebit] = []
        self.granted = self.debited = self.expired = self.voided = D(0)

    def key(self, name: str) -> str:
        return f"sm{self.run}-{name}-{next(_ids)}"

    # --- rules ------------------------------------------------------------------------------------------------

    @rule(
        amount=amounts,
        priority=st.sampled_from([1, 10, 100]),
        expires_in=st.one_of(st.none(), st.integers(1, 72)),
        starts_in=st.sampled_from([0, 0, 0, 5]),
        price=st.sampled_from([D(0), D("0.01"), D("0.02")]),
    )
    def grant(self, amount, priority, expires_in, starts_in, price):
        effective = self.clock + timedelta(hours=starts_in)
        expires = None if expires_in is None else effective + timedelta(hours=expires_in)
        g = wallet_grant(
            customer_id=self.customer.pk,
            kind="purchased" if price else "promotional",
            amount=amount,
            priority=priority,
            effective_at=effective,
            expires_at=expires,
            price_per_credit=price,
            idempotency_key=self.key("grant"),
            actor=SYSTEM,
        )
        self.grants.append(ModelGrant(g.pk, amount, amount, priority, effective, expires, price))
        self.granted += amount

    @rule(amount=amounts)
    def debit(self, amount):
        key = self.key("debit")
        result = wallet_debit(
            customer_id=self.customer.pk, amount=amount, idempotency_key=key, actor=SYSTEM, at=self.clock
        )
        usable = sorted(
            (
                g
                for g in self.grants
                if not g.closed
                and g.remaining > 0
                and g.effective_at <= self.clock
                and (g.expires_at is None or g.expires_at > self.clock)
            ),
            key=ModelGrant.burn_key,
        )
        left, allocations, revenue = amount, [], D(0)
        for g in usable:
            if left == 0:
                break
            take = min(g.remaining, left)
            g.remaining -= take
            left -= take
            revenue += take * g.price
            allocations.append((self.grants.index(g), take))
        drawn = amount - left
        self.debited += drawn
        assert result.drawn == drawn and result.shortfall == left and result.revenue == revenue
        assert [(a.grant_id, a.amount) for a in result.allocations] == [
            (self.grants[i].db_id, t) for i, t in allocations
        ]
        self.debits.append(ModelDebit(result.entry_id, key, amount, allocations))

    @precondition(lambda self: self.debits)
    @rule(data=st.data())
    def replay_debit(self, data):
        d = data.draw(st.sampled_from(self.debits))
        result = wallet_debit(
            customer_id=self.customer.pk, amount=d.requested, idempotency_key=d.key, actor=SYSTEM, at=self.clock
        )
        assert result.replayed and result.entry_id == d.entry_id

    @rule(hours=st.integers(1, 30))
    def advance_and_expire(self, hours):
        self.clock += timedelta(hours=hours)
        wallet_expire_due(now=self.clock)
        for g in self.grants:
            if not g.closed and g.expires_at is not None and g.expires_at <= self.clock:
                self.expired += g.remaining
                g.remaining, g.closed = D(0), "expired"

    @precondition(lambda self: self.grants)
    @rule(data=st.data())
    def void(self, data):
        g = data.draw(st.sampled_from(self.grants))
        if g.closed:
            with pytest.raises(Conflict):
                grant_void(grant_id=g.db_id, idempotency_key=self.key("void"), actor=SYSTEM, reason="test")
            return
        entry = grant_void(grant_id=g.db_id, idempotency_key=self.key("void"), actor=SYSTEM, reason="test")
        assert entry.amount == -g.remaining
        self.voided += g.remaining
        g.remaining, g.closed = D(0), "voided"

    @precondition(lambda self: any(t > 0 for d in self.debits for _, t in d.allocations))
    @rule(data=st.data(), portion=st.sampled_from(["all", "half", "cent"]))
    def reverse(self, data, portion):
        d = data.draw(st.sampled_from([d for d in self.debits if any(t > 0 for _, t in d.allocations)]))
        outstanding = sum(t for _, t in d.allocations)
        amount = {"all": None, "half": (outstanding / 2).quantize(D("0.01")) or D("0.01"), "cent": D("0.01")}[portion]
        amount = min(amount, outstanding) if amount is not None else None
        entry = wallet_reverse(entry_id=d.entry_id, idempotency_key=self.key("reverse"), actor=SYSTEM, amount=amount)
        want = outstanding if amount is None else amount
        assert entry.amount == want
        left = want
        for pos in range(len(d.allocations) - 1, -1, -1):  # last drawn, first given back
            index, taken = d.allocations[pos]
            give = min(taken, left)
            if give == 0:
                continue
            d.allocations[pos] = (index, taken - give)
            left -= give
            self.debited -= give
            g = self.grants[index]
            if g.closed == "expired":
                self.expired += give
            elif g.closed == "voided":
                self.voided += give
            else:
                g.remaining += give

    # --- invariants ---------------------------------------------------------------------------------------------

    @invariant()
    def matches_the_model(self):
        if not hasattr(self, "customer"):
            return
        db = dict(CreditGrant.objects.filter(wallet__customer=self.customer).values_list("id", "remaining"))
        assert db == {g.db_id: g.remaining for g in self.grants}
        balance = sum((g.remaining for g in self.grants), D(0))
        assert Wallet.objects.get(customer=self.customer).balance == balance
        c = wallet_conservation(customer_id=self.customer.pk)
        assert c.holds
        assert (c.granted, c.debited, c.expired, c.voided) == (self.granted, self.debited, self.expired, self.voided)
        assert all(v >= 0 for v in db.values())


@pytest.mark.django_db
def test_wallet_state_machine():
    run_state_machine_as_test(
        WalletMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
