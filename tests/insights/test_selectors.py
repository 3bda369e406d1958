"""Chart selectors equal sums over the rated records (they read the rollups, which must agree), also after late,
duplicate and re-rated usage; the bulk runway equals the wallet's own."""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from apps.contracts.selectors import contract_in_force
from apps.insights import selectors as ds
from apps.usage.models import RatedUsage
from apps.wallets.models import LedgerAllocation
from tests.alerts.builders import ago, ingest_and_rate

pytestmark = pytest.mark.django_db
Z = Decimal(0)


def same(a: Decimal, b: Decimal) -> bool:
    """Exact on PostgreSQL; SQLite sums decimals as floats, so there agree to the 9th place."""
    if connection.vendor == "postgresql":
        return a == b
    return abs(a - b) < Decimal("1e-9")


@pytest.fixture
def usage(shop, django_capture_on_commit_callbacks):
    a = shop.customer("alpha", credits="100000", allowances={shop.tokens: 5000})
    b = shop.customer("beta", billing_model="postpaid", enforcement="unlimited")
    c = shop.customer("gamma", credits="300", price_per_credit="0")  # free credits
    shop.grant(c, "50000", price_per_credit="0.01")  # then paid ones
    events = []
    for d in range(0, 12):
        ts = ago(days=d, hours=1)
        events += [
            shop.event(a, shop.tokens, 1200 + d * 10, ts, user=f"u{d % 3}", agent="bot", team="legal"),
            shop.event(a, shop.images, 2, ts, user="u1"),
            shop.event(b, shop.tokens, 40_000, ts, agent=f"agent-{d % 2}"),
            shop.event(b, shop.images, 3, ts),
            shop.event(c, shop.tokens, 90_000, ts, team="ops"),
        ]
    late = [shop.event(a, shop.tokens, 777, ago(days=5, hours=3), user="late")]
    ingest_and_rate(events[:30], django_capture_on_commit_callbacks)
    ingest_and_rate(events[30:] + late, django_capture_on_commit_callbacks)
    ingest_and_rate(events[:10], django_capture_on_commit_callbacks)  # duplicates: charged once
    return {"a": a, "b": b, "c": c}


def records(**filters):
    return list(RatedUsage.objects.filter(superseded_at__isnull=True, **filters))


def test_org_daily_by_meter_equals_rated_records(usage):
    period, _ = ds.parse_range({"range": "30"})
    expected = defaultdict(lambda: [0, Z, Z, Z, Z, Z])
    for r in records(day__gte=period.start, day__lte=period.end):
        e = expected[(r.day, r.meter_id)]
        e[0] += 1
        e[1] += r.quantity
        e[2] += r.revenue
        e[3] += r.cost
        e[4] += r.amount
        e[5] += r.credits_drawn
    rows = ds.org_daily_by_meter(period=period)
    assert {(r.day, r.meter_id) for r in rows} == set(expected)
    for r in rows:
        events, quantity, revenue, cost, amount, credits = expected[(r.day, r.meter_id)]
        assert r.events == events
        assert all(
            same(x, y)
            for x, y in [
                (r.quantity, quantity),
                (r.revenue, revenue),
                (r.cost, cost),
                (r.amount, amount),
                (r.credits, credits),
            ]
        )
    money = ds.money_by_day(rows, period)
    assert len(money) == 30
    assert same(sum((m.revenue for m in money), Z), sum((r.revenue for r in records()), Z))


def test_customer_totals_and_margin_cells_equal_rated_records(usage, shop):
    period, _ = ds.parse_range({"range": "7"})
    in_range = records(day__gte=period.start, day__lte=period.end)
    totals = {t.external_id: t for t in ds.customer_totals(period=period, measure="revenue")}
    for _key, customer in usage.items():
        mine = [r for r in in_range if r.customer_id == customer.pk]
        t = totals[customer.external_id]
        assert t.events == len(mine)
        assert same(t.current, sum((r.revenue for r in mine), Z)) and same(t.cost, sum((r.cost for r in mine), Z))
        prev = period.previous()
        before = records(customer_id=customer.pk, day__gte=prev.start, day__lte=prev.end)
        assert same(t.previous, sum((r.revenue for r in before), Z))
    cells = {(c.external_id, c.meter.code): c for c in ds.margin_cells(period=period, meters=ds.meter_infos())}
    for (ext, code), cell in cells.items():
        mine = [r for r in in_range if r.customer.external_id == ext and r.meter.code == code]
        assert same(cell.amount, sum((r.amount for r in mine), Z))
        included_cost = sum((r.cost * r.included_quantity / r.quantity for r in mine if r.quantity), Z)
        assert abs(cell.included_cost - included_cost) < Decimal("1e-9")
    # price margin: beta pays list USD prices ($0.00002 a token) for tokens costing $0.00001
    beta = cells[("beta", shop.tokens.code)]
    assert beta.unit_value == 1 and beta.margin_pct == Decimal(50)
    # gamma draws free credits, counted at face value (0.01 USD a credit): the same 50 %
    gamma = cells[("gamma", shop.tokens.code)]
    assert gamma.unit_value == Decimal("0.01") and gamma.margin_pct == Decimal(50) and not gamma.below_cost


@pytest.mark.parametrize("days", ["7", "30"])
def test_margin_summary_equals_the_cells_it_sums(usage, days):
    """The overview's one pass (margin per meter, per-customer sums) gives exactly what building every cell and
    summing them gives, and so do the customer totals built on either."""
    period, _ = ds.parse_range({"range": days})
    meters = ds.meter_infos()
    cells = ds.margin_cells(period=period, meters=meters, with_days=False)
    summary = ds.margin_summary(period=period, meters=meters)
    assert summary.meters == ds.margin_by_meter(cells, meters) and summary.meters
    assert [m.billed for m in summary.meters] == [m.billed for m in ds.margin_by_meter(cells, meters)]
    for measure in ds.MEASURES:
        assert ds.customer_totals(period=period, measure=measure, sums=summary.customers) == ds.customer_totals(
            period=period, measure=measure, cells=cells
        )
        assert ds.customer_totals(period=period, measure=measure) == ds.customer_totals(
            period=period, measure=measure, cells=cells
        )
    assert set(summary.customers) == {c.customer_id for c in cells} == {u.pk for u in usage.values()}


def test_attribution_and_credits_equal_rated_records_and_ledger(usage):
    period, _ = ds.parse_range({"range": "30"})
    a = usage["a"]
    top = ds.attribution_top(customer_id=a.pk, period=period)
    users = defaultdict(lambda: [0, Z])
    for r in records(customer_id=a.pk):
        if r.attr_user:
            users[r.attr_user][0] += 1
            users[r.attr_user][1] += r.amount
    assert {row.value: (row.events, row.amount) for row in top["user"]} == {k: tuple(v) for k, v in users.items()}
    assert [row.value for row in top["agent"]] == ["bot"]

    c = usage["c"]
    days = ds.credits_paid_free(customer_id=c.pk, period=period)
    drawn = sum((r.credits_drawn for r in records(customer_id=c.pk)), Z)
    assert same(sum((d.paid_credits + d.free_credits for d in days), Z), drawn)
    free = sum(
        (-x.amount for x in LedgerAllocation.objects.filter(entry__wallet__customer=c, grant__price_per_credit=0)), Z
    )
    assert free == Decimal(300) and same(sum((d.free_credits for d in days), Z), free)
    assert same(sum((d.paid_revenue for d in days), Z), sum((r.revenue for r in records(customer_id=c.pk)), Z))


def test_balance_history_ends_at_the_balance_and_bulk_runway_matches(usage):
    from apps.wallets.selectors import wallet_balance, wallet_runway, wallet_runways

    period, _ = ds.parse_range({"range": "30"})
    now = timezone.now()
    for key in ("a", "c"):
        customer = usage[key]
        burn = ds.balance_history(customer_id=customer.pk, period=period, now=now)
        assert burn.points[-1].balance == wallet_balance(customer_id=customer.pk).balance == burn.balance
        bulk = wallet_runways(customer_ids=[customer.pk], now=now)[customer.pk]
        single = wallet_runway(customer_id=customer.pk, now=now)
        assert (bulk.days_left, bulk.runs_out_at, bulk.burn_per_day) == (
            single.days_left,
            single.runs_out_at,
            single.burn_per_day,
        )


def test_included_usage_and_health(usage, shop):
    a = usage["a"]
    included = ds.included_usage(customer_id=a.pk)
    [row] = included.rows
    start = included.period_start.date()
    used = sum((r.quantity for r in records(customer_id=a.pk, meter=shop.tokens, day__gte=start)), Z)
    assert row.used == used and row.allowance == 5000 and row.pct == used / 50
    health = {h.external_id: h for h in ds.accounts_health(customers=list(usage.values()))}
    assert health["alpha"].top_allowance.used == used
    assert health["beta"].balance is None and health["beta"].top_allowance is None
    assert health["gamma"].balance is not None


@pytest.mark.parametrize("back", [0, 3, 9, 40])
def test_included_usage_from_the_page_rows_equals_its_own_read(usage, back, django_assert_num_queries):
    """The customer page hands included_usage the day x meter rows it read for its range: the same figures (and
    thresholds' days) as reading the billing period, without reading them again when the period so far lies
    inside the range (else it reads them as before)."""
    a = usage["a"]
    now = timezone.now()
    own = ds.included_usage(customer_id=a.pk, now=now)
    today = ds.utc_today(now)
    start = own.period_start.date() - timedelta(days=back)
    for period in (
        ds.DateRange(start, today),
        ds.DateRange(start + timedelta(days=1), today),
        ds.DateRange(start, today - timedelta(days=1)),
    ):
        rows = ds.customer_daily_by_meter(customer_id=a.pk, period=period)
        terms, meters = contract_in_force(customer_id=a.pk, at=now), ds.meter_infos()
        inside = period.start <= own.period_start.date() and period.end == today
        with django_assert_num_queries(0 if inside else 1):
            reused = ds.included_usage(customer_id=a.pk, now=now, meters=meters, terms=terms, known=(period, rows))
        assert reused == own and own.rows and own.rows[0].used > 0 and own.rows[0].crossed_on


def test_parse_range():
    today = timezone.now().date()
    assert ds.parse_range({"range": "7"})[0].days == 7
    assert ds.parse_range({})[0].days == 30
    custom, error = ds.parse_range({"range": "custom", "start": "2026-01-01", "end": "2026-01-31"})
    assert (custom.days, custom.preset, error) == (31, None, "")
    fallback, error = ds.parse_range({"range": "custom", "start": "2026-02-10", "end": "2026-02-01"})
    assert fallback.days == 30 and "before" in error
    assert ds.parse_range({"range": "custom", "start": "nope"})[1]
    assert ds.parse_range({"range": "custom", "start": "2020-01-01", "end": "2026-01-01"})[1]
    assert ds.parse_range({"range": "13"})[0].end == today
    assert ds.DateRange(today - timedelta(days=6), today).previous().days == 7
