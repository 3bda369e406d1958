"""Customers whose wallet side is one debit are settled together (one wallet call for all of them). If settling
them together fails because of one customer, they are settled one by one: only that customer's events are
errors, its wallet is untouched, and the others are rated with exactly one debit each."""

from __future__ import annotations

import pytest

from apps.usage.models import RatedUsage, UsageEvent
from apps.usage.services import usage_rate_pending
from apps.wallets.models import LedgerEntry
from apps.wallets.selectors import wallet_balance, wallet_conservation
from tests.usage.builders import ago, ingest

pytestmark = pytest.mark.django_db


def test_one_customer_failing_in_the_joint_settlement_fails_alone(world, monkeypatch):
    meter = world.meter("tokens")
    table = world.table(unit="credits")
    world.version(table, {meter: "1"}, effective_from=ago(days=60))
    good = [world.customer(f"good-{i}", table, credits="100") for i in range(2)]
    bad = world.customer("bad", table, credits="100")
    ingest([world.event(c, meter, 5, ago(minutes=9 - i)) for c in [*good, bad] for i in range(3)])

    from apps.usage.rating import engine

    real = engine.settle

    def refusing(items, draw, **kwargs):
        if kwargs["customer_id"] == bad.pk:
            raise ValueError("this customer's figures cannot be settled")
        return real(items, draw, **kwargs)

    monkeypatch.setattr(engine, "settle", refusing)
    summary = usage_rate_pending()

    assert summary.errors == 3
    states = {(e.customer_id, e.state) for e in UsageEvent.objects.all()}
    assert states == {(good[0].pk, "rated"), (good[1].pk, "rated"), (bad.pk, "error")}
    assert "cannot be settled" in UsageEvent.objects.filter(customer=bad).first().rating_error
    assert RatedUsage.objects.filter(customer=bad).count() == 0
    assert wallet_balance(customer_id=bad.pk).balance == 100
    assert LedgerEntry.objects.filter(wallet__customer=bad, entry_type="debit").count() == 0
    for customer in good:
        assert wallet_balance(customer_id=customer.pk).balance == 85
        assert LedgerEntry.objects.filter(wallet__customer=customer, entry_type="debit").count() == 1
        assert wallet_conservation(customer_id=customer.pk).holds


def test_a_batch_of_one_debit_customers_writes_one_entry_each_in_a_few_statements(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    meter = world.meter("tokens")
    table = world.table(unit="credits")
    world.version(table, {meter: "1"}, effective_from=ago(days=60))
    customers = [world.customer(f"c-{i}", table, credits="100") for i in range(6)]
    ingest([world.event(c, meter, 2, ago(minutes=9 - i)) for c in customers for i in range(2)])
    with CaptureQueriesContext(connection) as queries:
        usage_rate_pending()
    wallet_statements = [q for q in queries.captured_queries if '"wallets_' in q["sql"]]
    assert len(wallet_statements) <= 8  # not a few per customer
    for customer in customers:
        assert wallet_balance(customer_id=customer.pk).balance == 96
        assert LedgerEntry.objects.filter(wallet__customer=customer, entry_type="debit").count() == 1
