"""The coarse rollups (usage_weekly, usage_daily_meter) and the reads that use them: exactly the sums of usage_daily
after rating, late events and re-rating, and range totals read from whole weeks plus and minus a few days equal to
the day-by-day totals (Decimal, every column)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.core.actors import SYSTEM
from apps.usage import rollup_selectors
from apps.usage.models import DailyUsage
from apps.usage.services import usage_rerate
from tests.usage.builders import ago, ingest, rate
from tests.usage.services.test_invariance import assert_coarse_rollups_match_daily, assert_rollups_match_records


@given(start=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)), days=st.integers(1, 400))
def test_whole_weeks_plus_and_minus_days_cover_the_range_exactly_once(start, days):
    end = start + timedelta(days=days - 1)
    pieces = rollup_selectors._week_pieces(start, end)
    if days < rollup_selectors.WEEKLY_FROM_DAYS:
        assert pieces is None
        return
    first, last, plus, minus = pieces
    assert first.weekday() == 0 and last.weekday() == 0 and first <= last
    assert len(plus) <= 6 and len(minus) <= 6
    covered: Counter = Counter()
    week = first
    while week <= last:
        covered.update(week + timedelta(days=i) for i in range(7))
        week += timedelta(days=7)
    covered.update(plus)
    covered.subtract(minus)
    assert +covered == Counter(start + timedelta(days=i) for i in range(days))
    assert not -covered  # nothing taken away that was not there


def _day_by_day(start: date, end: date) -> dict:
    cells: dict = {}
    for d in DailyUsage.objects.filter(day__gte=start, day__lte=end):
        t = cells.setdefault((d.customer_id, d.meter_id), [0, 0, 0, 0, 0, 0])
        for i, name in enumerate(("events", "quantity", "amount", "revenue", "cost", "included_quantity")):
            t[i] += getattr(d, name)
    return cells


@pytest.mark.django_db
def test_range_totals_from_weeks_equal_the_day_by_day_totals_after_rating_and_rerating(world):
    tokens = world.meter("tok", cost="0.013")
    images = world.meter("img", unit="image", cost="0.31")
    table = world.table(unit="credits")
    world.version(table, {tokens: "0.7", images: "3.3"}, effective_from=ago(days=80))
    acme = world.customer("acme", table, credits="100000", price_per_credit="0.5", allowances={tokens: "500"})
    other = world.customer("other", table, credits="100000")
    events = [  # every day (a range's days added or taken away all count), several meters and values
        world.event(c, m, q, ago(days=d, hours=h), user=f"u{d % 3}")
        for c in (acme, other)
        for d in range(50)
        for m, q, h in ((tokens, 120 + d, 1), (images, 1 + d % 4, 2), (tokens, "3.25", 30))
        if m is not images or d % 2 == 0
    ]
    ingest(events)
    rate(batch_size=17)
    assert_coarse_rollups_match_daily()
    # a backdated price: records superseded, their buckets rebuilt
    world.version(table, {tokens: "0.9", images: "3.3"}, effective_from=ago(days=20), backdated=True)
    usage_rerate(start=ago(days=20), end=ago(minutes=0), actor=SYSTEM)
    # late events in already rolled-up days
    ingest([world.event(acme, images, 2, ago(days=d, hours=5)) for d in (7, 8, 40)])
    rate()
    for customer in (acme, other):
        assert_rollups_match_records(customer)  # checks the coarse rollups against usage_daily too

    today = ago(minutes=0).date()
    for end_back, length in ((0, 30), (0, 14), (2, 29), (5, 45), (1, 90), (0, 13), (4, 7)):
        end = today - timedelta(days=end_back)
        start = end - timedelta(days=length - 1)
        expected = _day_by_day(start, end)
        cells = rollup_selectors.rollup_customer_meter_totals(start=start, end=end, with_days=False)
        assert {
            (c.customer_id, c.meter_id): [c.events, c.quantity, c.amount, c.revenue, c.cost, c.included_quantity]
            for c in cells
        } == expected
        for measure, i in (("events", 0), ("revenue", 3), ("cost", 4)):
            per_customer: dict = {}
            for (customer_id, _), t in expected.items():
                per_customer[customer_id] = per_customer.get(customer_id, 0) + t[i]
            assert rollup_selectors.rollup_customer_measure(start=start, end=end, measure=measure) == per_customer
        fields = ("events", "revenue", "cost")
        org = rollup_selectors.rollup_days_by_meter(start=start, end=end, fields=fields)  # usage_daily_meter
        daily = rollup_selectors.rollup_days_by_meter(start=start, end=end, fields=(*fields, "quantity"))  # usage_daily
        assert [(r.day, r.meter_id, r.events, r.revenue, r.cost) for r in org] == [
            (r.day, r.meter_id, r.events, r.revenue, r.cost) for r in daily
        ]
