"""Hypothesis: the deferred-revenue roll-forward under generated sequences of grants (paid and free, some
back-dated: recorded after later movements, dated in an earlier month), debits,
give-backs (whole, partial, exact parts and take-backs), voids and expiries, over several months.

The model is built from what the wallet services returned (allocations, entries), valued at each grant's price;
the roll-forward is read from the ledger. Checked for every month: the exact flows equal the model's, the rounded
cells satisfy opening + purchased - recognized - breakage + adjustments = closing to the cent, each month opens
where the previous one closed, and the current month closes at sum(remaining x price) of the grants."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test

from apps.core.actors import SYSTEM
from apps.core.money import quantize_rated
from apps.wallets.models import CreditGrant, LedgerEntry
from apps.wallets.revenue import FLOWS, month_of, months_between, rollforward
from apps.wallets.services import (
    debit_outstanding,
    grant_void,
    wallet_debit,
    wallet_expire_due,
    wallet_get_or_create,
    wallet_grant,
    wallet_reverse,
)
from tests.contracts import factories as f

D = Decimal
CENT = D("0.01")
_ids = itertools.count(1)

credits = st.integers(min_value=1, max_value=400_000).map(lambda n: D(n) / 100)
# Prices with sub-cent digits, so that rounding each cell matters.
prices = st.sampled_from([D(0), D(0), D("0.01"), D("0.0125"), D("0.333333"), D("1.07"), D("2.5")])


class RevenueMachine(RuleBasedStateMachine):
    @initialize(start_days_ago=st.integers(min_value=90, max_value=200))
    def setup(self, start_days_ago):
        self.run = next(_ids)
        self.customer = f.customer(f"rev-{self.run}")
        wallet_get_or_create(customer_id=self.customer.pk)
        self.now = timezone.now()
        self.clock = self.now - timedelta(days=start_days_ago)
        self.first = month_of(self.clock)
        self.grants: dict[int, dict] = {}  # id -> price, closed ("", "expired", "voided"), expires_at
        self.debits: list[int] = []
        self.expected: dict[datetime, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(FLOWS, D(0)))

    def key(self, name: str) -> str:
        return f"rev{self.run}-{name}-{next(_ids)}"

    def book(self, at: datetime, column: str, credits_: Decimal, price: Decimal) -> None:
        with localcontext() as ctx:
            ctx.prec = 90
            self.expected[month_of(at).start][column] += credits_ * price

    def lapse_if_closed(self, grant_id: int, given: Decimal, at: datetime) -> None:
        g = self.grants[grant_id]
        if given > 0 and g["closed"] == "expired":
            self.book(at, "breakage", given, g["price"])
        elif given > 0 and g["closed"] == "voided":
            self.book(at, "adjustments", -given, g["price"])

    # --- rules ------------------------------------------------------------------------------------------------

    @rule(
        amount=credits,
        price=prices,
        expires_in=st.one_of(st.none(), st.integers(2, 60)),
        priority=st.sampled_from([10, 100]),
    )
    def grant(self, amount, price, expires_in, priority):
        g = wallet_grant(
            customer_id=self.customer.pk,
            kind="purchased" if price else "promotional",
            amount=amount,
            priority=priority,
            effective_at=self.clock,
            expires_at=None if expires_in is None else self.clock + timedelta(days=expires_in),
            price_per_credit=price,
            idempotency_key=self.key("grant"),
            actor=SYSTEM,
        )
        self.grants[g.pk] = {"price": price, "closed": "", "expires_at": g.expires_at}
        self.book(self.clock, "purchased", amount, price)

    @rule(
        amount=credits,
        price=prices.filter(bool),
        days_back=st.integers(min_value=1, max_value=70),
        expires_in=st.one_of(st.none(), st.integers(2, 60)),
    )
    def back_dated_purchase(self, amount, price, days_back, expires_in):
        """A purchase recorded now but dated earlier (possibly in a month already reviewed or closed; an automatic
        top-up fired by late usage is one): it counts in the month it is dated, as every movement does."""
        at = max(self.clock - timedelta(days=days_back), self.first.start)
        g = wallet_grant(
            customer_id=self.customer.pk,
            kind="purchased",
            amount=amount,
            effective_at=at,
            expires_at=None if expires_in is None else at + timedelta(days=expires_in),
            price_per_credit=price,
            idempotency_key=self.key("late-purchase"),
            actor=SYSTEM,
        )
        self.grants[g.pk] = {"price": price, "closed": "", "expires_at": g.expires_at}
        self.book(at, "purchased", amount, price)

    @rule(amount=credits)
    def debit(self, amount):
        result = wallet_debit(
            customer_id=self.customer.pk, amount=amount, idempotency_key=self.key("debit"), actor=SYSTEM, at=self.clock
        )
        for a in result.allocations:
            self.book(self.clock, "recognized", a.amount, self.grants[a.grant_id]["price"])
        if result.entry_id:
            self.debits.append(result.entry_id)

    @rule(days=st.integers(1, 25))
    def advance_and_expire(self, days):
        self.clock = min(self.clock + timedelta(days=days), self.now - timedelta(minutes=1))
        due = {
            g.pk: g.remaining
            for g in CreditGrant.objects.filter(
                pk__in=list(self.grants), expires_at__lte=self.clock, expired_at__isnull=True, voided_at__isnull=True
            )
        }
        wallet_expire_due(now=self.clock)
        for grant_id, remaining in due.items():
            g = self.grants[grant_id]
            g["closed"] = "expired"
            self.book(g["expires_at"], "breakage", remaining, g["price"])

    @precondition(lambda self: self.grants)
    @rule(data=st.data())
    def void(self, data):
        grant_id = data.draw(st.sampled_from(sorted(self.grants)))
        g = self.grants[grant_id]
        if g["closed"]:
            return
        entry = grant_void(grant_id=grant_id, idempotency_key=self.key("void"), actor=SYSTEM, reason="refund")
        g["closed"] = "voided"
        self.book(entry.effective_at, "adjustments", entry.amount, g["price"])

    def _reversal_booked(self, entry: LedgerEntry | None) -> None:
        if entry is None:
            return
        for a in entry.allocations.all():
            self.book(entry.effective_at, "adjustments", a.amount, self.grants[a.grant_id]["price"])
            self.lapse_if_closed(a.grant_id, a.amount, entry.effective_at)

    @precondition(lambda self: self.debits)
    @rule(data=st.data(), portion=st.sampled_from(["all", "half", "cent"]))
    def give_back(self, data, portion):
        entry_id = data.draw(st.sampled_from(self.debits))
        outstanding = sum(debit_outstanding(LedgerEntry.objects.get(pk=entry_id)).values(), D(0))
        if outstanding <= 0:
            return
        amount = {"all": None, "half": max((outstanding / 2).quantize(CENT), CENT), "cent": CENT}[portion]
        if amount is not None:
            amount = min(amount, outstanding)
        entry = wallet_reverse(entry_id=entry_id, idempotency_key=self.key("back"), actor=SYSTEM, amount=amount)
        self._reversal_booked(entry)

    @precondition(lambda self: self.debits)
    @rule(data=st.data(), share=st.sampled_from([D("0.5"), D(1), D(-1), D("-0.25")]))
    def give_back_parts(self, data, share):
        """Rating's give-backs: exact credits and revenue per grant; a negative part takes back credits an
        earlier give-back returned (at most what the grant still holds)."""
        entry_id = data.draw(st.sampled_from(self.debits))
        debit = LedgerEntry.objects.get(pk=entry_id)
        outstanding = debit_outstanding(debit)
        drawn = {a.grant_id: -a.amount for a in debit.allocations.all()}
        parts = {}
        for grant_id, left in outstanding.items():
            given = drawn[grant_id] - left
            part = (left * share).quantize(CENT) if share > 0 else -(given * -share).quantize(CENT)
            if part != 0:
                parts[grant_id] = (part, quantize_rated(part * self.grants[grant_id]["price"]))
        if not parts:
            return
        entry = wallet_reverse(entry_id=entry_id, idempotency_key=self.key("parts"), actor=SYSTEM, parts=parts)
        self._reversal_booked(entry)

    # --- the check --------------------------------------------------------------------------------------------

    def teardown(self):
        if not hasattr(self, "customer"):
            return
        months = months_between(self.first, month_of(self.now))
        previous = None
        for month in months:
            report = rollforward(period=month, customer_ids=[self.customer.pk])
            assert len(report.rows) <= 1
            if not report.rows:
                assert not any(self.expected[month.start].values())
                assert previous is None or previous.closing == 0
                continue
            row = report.rows[0]
            want = self.expected[month.start]
            assert {c: getattr(row.exact, c) for c in FLOWS} == want, month.label
            cents = row.cents
            assert cents.opening + cents.purchased - cents.recognized - cents.breakage + cents.adjustments == (
                cents.closing
            )
            assert all(getattr(cents, c) == getattr(cents, c).quantize(CENT) for c in FLOWS)
            for c in FLOWS:
                assert abs(getattr(cents, c) - getattr(row.exact, c)) < CENT
            assert abs(cents.closing - row.exact.closing) <= 2 * CENT
            assert report.total.cents == cents
            if previous is not None:
                assert cents.opening == previous.closing and row.exact.opening == previous.exact.closing
            previous = row
        # Over every customer written so far (earlier examples' too): the total is the sum of the rows, and adds up.
        everyone = rollforward(period=month_of(self.now))
        assert everyone.total.cents == sum((r.cents for r in everyone.rows), type(everyone.total.cents)())
        t = everyone.total.cents
        assert t.opening + t.purchased - t.recognized - t.breakage + t.adjustments == t.closing
        with localcontext() as ctx:
            ctx.prec = 90
            held = sum(
                (g.remaining * g.price_per_credit for g in CreditGrant.objects.filter(wallet__customer=self.customer)),
                D(0),
            )
        assert (previous.exact.closing if previous else D(0)) == held


@pytest.mark.django_db
def test_rollforward_identity_under_generated_ledgers():
    run_state_machine_as_test(
        RevenueMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


def test_month_boundaries_are_utc():
    month = month_of(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    assert (month.start, month.end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
