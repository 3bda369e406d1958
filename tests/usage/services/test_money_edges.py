"""Issue 8: money exact at the edges (give-backs to the right grants, volume true-ups, rounding once, failure
isolation, included credits). Each test failed on the code before the fix."""
from __future__ import annotations

from datetime import timedelta

import pytest

from apps.usage.models import RatedUsage
from apps.wallets.models import CreditGrant
from apps.wallets.selectors import wallet_balance, wallet_conservation
from tests.usage.builders import D, ago, ingest, per_grant, rate

pytestmark = pytest.mark.django_db


def test_a_give_back_returns_credits_to_the_grants_the_superseded_records_drew(world):
    """One debit drew a free grant for meter A and a paid one for meter B; a late event re-prices A only. The
    give-back must go to the free grant A drew from (not last-drawn-first to the paid one)."""
    grad = world.meter("grad")
    flat = world.meter("flat")
    table = world.table()
    world.version(table, {grad: {"model": "graduated", "tiers": [(100, "1", "0"), (None, "0.5", "0")]},
                          flat: "1"}, effective_from=ago(days=60))
    acme = world.customer("acme", table, billing_model="prepaid", enforcement="hard")
    free = world.grant(acme, "100", price_per_credit="0", kind="promotional")
    paid = world.grant(acme, "1000", price_per_credit="0.01")
    t = ago(hours=5)
    ingest([world.event(acme, grad, 100, t, id="a"), world.event(acme, flat, 50, t + timedelta(seconds=1), id="b")])
    rate()
    ingest([world.event(acme, grad, 10, t - timedelta(seconds=1), id="late")])
    rate()
    ledger, records = per_grant(acme)
    assert ledger == records
    # late 10 + a re-priced at 10..110 (90 + 5) = 105: the free grant's 100 first, then 5 paid; b's 50 unchanged.
    assert records == {free.pk: (D(100), D(0)), paid.pk: (D(55), D("0.55"))}
    assert wallet_conservation(customer_id=acme.pk).holds


def test_volume_true_up_on_prepaid_gives_the_difference_back_to_the_grants(world):
    """Issue 8.4: 20,000 credits at 0.01, volume tiers (<=100 at 1.00, above at 0.80): 100 units then 1 unit
    is 101 x 0.80 = 80.80 USD = 8,080 credits; balance 11,920; nothing in overage on a hard contract."""
    vol = world.meter("vol")
    table = world.table()
    world.version(table, {vol: {"model": "volume", "tiers": [(100, "1", "0"), (None, "0.8", "0")]}},
                  effective_from=ago(days=60))
    acme = world.customer("acme", table, billing_model="prepaid", enforcement="hard", credit_price="0.01")
    grant = world.grant(acme, "20000", price_per_credit="0.01")
    t = ago(hours=3)
    ingest([world.event(acme, vol, 100, t, id="first")])
    rate()
    ingest([world.event(acme, vol, 1, t + timedelta(seconds=1), id="second")])
    rate()
    current = RatedUsage.objects.filter(customer=acme, superseded_at__isnull=True)
    assert sum(r.credits_drawn for r in current) == D(8080)
    assert wallet_balance(customer_id=acme.pk).balance == D(11920)
    assert all(r.overage_units == 0 and r.overage_amount == 0 for r in current)
    ledger, records = per_grant(acme)
    assert ledger == records == {grant.pk: (D(8080), D("80.80"))}
    assert CreditGrant.objects.get(pk=grant.pk).remaining == D(11920)
    assert wallet_conservation(customer_id=acme.pk).holds


def test_a_statement_line_is_the_exact_sum_of_its_events_rounded_once_half_up(world):
    """Issue 8.6: seven events of 0.5 units at 0.01 per 7 units are 0.005 USD, shown as 0.01 (not 0.00)."""
    from apps.usage.selectors import statement

    meter = world.meter("tiny")
    table = world.table()
    world.version(table, {meter: {"price": "0.01", "per": "7"}}, effective_from=ago(days=60))
    acme = world.customer("acme", table, billing_model="postpaid")
    t = ago(hours=2)
    # in two batches, in shuffled order: the sum does not depend on how the events arrive
    ingest([world.event(acme, meter, "0.5", t + timedelta(seconds=s), id=f"h{s}") for s in (3, 0, 5)])
    rate()
    ingest([world.event(acme, meter, "0.5", t + timedelta(seconds=s), id=f"h{s}") for s in (6, 1, 4, 2)])
    rate()
    current = RatedUsage.objects.filter(customer=acme, superseded_at__isnull=True)
    assert sum(r.amount for r in current) == D("0.005")
    st = statement(customer=acme, start=t.date(), end=(t + timedelta(days=1)).date())
    assert [line.amount for line in st.lines] == [D("0.01")]
