"""Hypothesis state machine over the real rating engine and wallet (PostgreSQL): grants, on-time and late events,
re-rates after backdated price changes, expiries and voids, in any order. After every step, for every grant, the
ledger's allocations equal the current rated records' draws from it, and the ledger's revenue from paid credits
equals the records'; the wallet conserves (issue 8.3)."""

from __future__ import annotations

import contextlib
import itertools
from datetime import timedelta

import pytest
from django.utils import timezone
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
from apps.usage.models import UsageEvent
from apps.usage.services import usage_rerate
from apps.wallets.models import CreditGrant
from apps.wallets.selectors import wallet_conservation
from apps.wallets.services import grant_void, wallet_expire_due, wallet_grant
from tests.usage.builders import D, ago, ingest, per_grant, rate

_run = itertools.count(1)
PRICES = st.sampled_from(["1", "0.5", "2", "0.75"])


@pytest.mark.django_db
def test_per_grant_ledger_equals_rated_records_after_any_sequence(world):
    grad = world.meter("sm.grad")
    flat = world.meter("sm.flat")
    vol = world.meter("sm.vol")

    def rates(p1, p2, p3):
        return {
            grad: {"model": "graduated", "tiers": [(30, p1, "0"), (None, "0.5", "0")]},
            flat: p2,
            vol: {"model": "volume", "tiers": [(40, p3, "0"), (None, "0.25", "0")]},
        }

    class MoneyMachine(RuleBasedStateMachine):
        @initialize(enforcement=st.sampled_from(["hard", "unlimited"]))
        def setup(self, enforcement):
            self.n = next(_run)
            self.table = world.table()
            world.version(self.table, rates("1", "1", "1"), effective_from=ago(days=60))
            self.customer = world.customer(f"msm-{self.n}", self.table, enforcement=enforcement, credit_price="0.01")
            self.seq = itertools.count(1)

        @rule(
            amount=st.integers(10, 400),
            price=st.sampled_from(["0", "0.01", "0.02"]),
            priority=st.sampled_from([10, 100]),
            expiring=st.booleans(),
        )
        def grant(self, amount, price, priority, expiring):
            wallet_grant(
                customer_id=self.customer.pk,
                kind="purchased" if D(price) else "promotional",
                amount=D(amount),
                price_per_credit=D(price),
                priority=priority,
                effective_at=timezone.now() - timedelta(days=30),
                expires_at=timezone.now() + timedelta(hours=1) if expiring else None,
                idempotency_key=f"msm-{self.n}-g{next(self.seq)}",
                actor=SYSTEM,
            )

        @rule(
            events=st.lists(
                st.tuples(st.sampled_from(["grad", "flat", "vol"]), st.integers(1, 40), st.integers(1, 200)),
                min_size=1,
                max_size=4,
            )
        )
        def usage(self, events):
            meters = {"grad": grad, "flat": flat, "vol": vol}
            ingest(
                [
                    world.event(
                        self.customer, meters[m], quantity, ago(hours=hours_ago), id=f"msm-{self.n}-e{next(self.seq)}"
                    )
                    for m, quantity, hours_ago in events
                ]
            )
            rate()

        @rule(p1=PRICES, p2=PRICES, p3=PRICES, days_ago=st.integers(1, 9))
        def rerate(self, p1, p2, p3, days_ago):
            effective = ago(days=days_ago) - timedelta(seconds=next(self.seq))
            world.version(self.table, rates(p1, p2, p3), effective_from=effective, backdated=True)
            usage_rerate(
                start=effective,
                end=timezone.now() + timedelta(minutes=5),
                customer_id=self.customer.pk,
                actor=SYSTEM,
                reason="state machine",
            )

        @rule()
        def expire(self):
            wallet_expire_due(now=timezone.now() + timedelta(hours=2))

        @precondition(
            lambda self: CreditGrant.objects.filter(
                wallet__customer=self.customer, voided_at=None, expired_at=None
            ).exists()
        )
        @rule(data=st.data())
        def void(self, data):
            ids = list(
                CreditGrant.objects.filter(wallet__customer=self.customer, voided_at=None, expired_at=None).values_list(
                    "id", flat=True
                )
            )
            with contextlib.suppress(Conflict):
                grant_void(
                    grant_id=data.draw(st.sampled_from(ids)),
                    idempotency_key=f"msm-{self.n}-v{next(self.seq)}",
                    actor=SYSTEM,
                    reason="state machine",
                )

        @invariant()
        def per_grant_equalities(self):
            if not hasattr(self, "customer"):
                return
            ledger, records = per_grant(self.customer)
            assert ledger == records
            assert wallet_conservation(customer_id=self.customer.pk).holds
            assert not UsageEvent.objects.filter(customer=self.customer, state="error").exists()

    run_state_machine_as_test(
        MoneyMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=10,
            deadline=None,
            derandomize=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
