"""Usage reads: statements round once (half up, to cents) from unrounded rollups, ranges are inclusive, the
attribution rollups answer "who drove it", and an explanation keeps its re-rating history."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.usage import selectors, statements
from apps.usage.services import usage_rerate
from tests.usage.builders import ago, ingest, rate

pytestmark = pytest.mark.django_db


@pytest.fixture
def usage(world):
    tokens = world.meter("tok", cost="0.0000001")
    table = world.table()
    world.version(table, {tokens: {"price": "0.15", "per": "1000000"}}, effective_from=ago(days=60))
    acme = world.customer("acme", table, billing_model="postpaid")
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    ingest(
        [
            world.event(
                acme,
                tokens,
                33_333,
                today - timedelta(days=1) + timedelta(hours=h),
                id=f"y{h}",
                user=f"u{h % 2}",
                agent="bot" if h % 3 == 0 else None,
            )
            for h in range(3)
        ]
        + [world.event(acme, tokens, 100, today + timedelta(minutes=1), id="t0", user="u0")]
    )
    rate()
    return world, tokens, table, acme, today


def test_statement_rounds_each_line_once_half_up(usage):
    world, tokens, table, acme, today = usage
    st = statements.statement(customer=acme, start=(today - timedelta(days=1)).date(), end=today.date())
    (line,) = st.lines
    # 100,099 tokens at 0.15 per million = 0.01501485 unrounded; the statement shows 0.02 (half up on 0.015...).
    assert line.usage.amount == Decimal("0.01501485") and line.amount == Decimal("0.02")
    assert st.totals["amount"] == Decimal("0.02") and st.totals["events"] == 4
    assert line.usage.average_unit_price == Decimal("0.00000015")


def test_ranges_are_inclusive_and_series_are_daily(usage):
    world, tokens, table, acme, today = usage
    yesterday = (today - timedelta(days=1)).date()
    only_yesterday = selectors.usage_by_meter(customer_id=acme.pk, start=yesterday, end=yesterday)
    assert only_yesterday[0].quantity == 99_999 and only_yesterday[0].events == 3
    series = selectors.daily_series(customer_id=acme.pk, start=yesterday, end=today.date())
    assert [(p.day, p.quantity, p.events) for p in series] == [(yesterday, 99_999, 3), (today.date(), 100, 1)]


def test_attribution_answers_who_drove_the_usage(usage):
    world, tokens, table, acme, today = usage
    users = selectors.top_attribution(
        customer_id=acme.pk, start=(today - timedelta(days=1)).date(), end=today.date(), kind="user"
    )
    assert [(r.value, r.events) for r in users] == [("u0", 3), ("u1", 1)]
    agents = selectors.top_attribution(
        customer_id=acme.pk, start=(today - timedelta(days=1)).date(), end=today.date(), kind="agent"
    )
    assert [(r.value, r.events) for r in agents] == [("bot", 1)]


def test_explanation_keeps_the_re_rating_history(usage):
    world, tokens, table, acme, today = usage
    world.version(table, {tokens: {"price": "0.30", "per": "1000000"}}, effective_from=ago(days=2), backdated=True)
    usage_rerate(start=ago(days=3), end=timezone.now() + timedelta(minutes=5), actor=SYSTEM)
    from apps.usage.models import UsageEvent

    event = UsageEvent.objects.get(event_id="t0")
    context = selectors.charge_explanation(event_pk=event.pk)
    assert context["record"].amount == Decimal("0.00003")
    assert [r.amount for r in context["history"]] == [Decimal("0.000015")]
    assert context["version"].number == 2 and [d.action for d in context["decisions"]][-1] == "approve"
    bucket = selectors.bucket_explanation(customer=acme, meter=selectors.meter_by_code("tok"), day=today.date())
    assert bucket["rollup"].events == 1 and bucket["groups"][0]["amount"] == Decimal("0.00003")


def test_resolve_range_defaults_to_the_current_period(usage):
    world, tokens, table, acme, today = usage
    start, end = selectors.resolve_range(customer_id=acme.pk, start=None, end=None)
    assert start.day == 1 and start <= today.date() <= end
