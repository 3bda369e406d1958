"""Rating: versions and periods by timestamp, tiers over the period's cumulative quantity, allowance first,
overrides, meter costs, count meters, enforcement policies, one debit per customer per batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.usage.models import RatedUsage, RatingBatch, UsageEvent
from apps.usage.services import usage_rate_pending
from apps.wallets.models import LedgerEntry
from apps.wallets.selectors import wallet_balance, wallet_conservation
from tests.usage.builders import D, ago, ingest, rate

pytestmark = pytest.mark.django_db


def records(customer=None):
    qs = RatedUsage.objects.filter(superseded_at__isnull=True).order_by("timestamp", "event_ref")
    return list(qs.filter(customer=customer) if customer else qs)


@pytest.fixture
def tokens(world):
    return world.meter("llm.tokens", cost="0.002")


def test_version_in_force_at_the_timestamp_exactly_at_the_boundary(world, tokens):
    table = world.table()
    boundary = (timezone.now() - timedelta(days=2)).replace(microsecond=0)
    world.version(table, {tokens: "1"}, effective_from=ago(days=30))
    v2 = world.version(table, {tokens: "2"}, effective_from=boundary)
    acme = world.customer("acme", table, billing_model="postpaid")
    ingest(
        [
            world.event(acme, tokens, 1, boundary - timedelta(microseconds=1), id="before"),
            world.event(acme, tokens, 1, boundary, id="at"),
            world.event(acme, tokens, 1, boundary + timedelta(microseconds=1), id="after"),
        ]
    )
    rate()
    amounts = {r.event_ref: (r.amount, r.rate_version_id) for r in records()}
    assert amounts["before"][0] == 1 and amounts["before"][1] != v2.id
    assert amounts["at"] == (D(2), v2.id) and amounts["after"] == (D(2), v2.id)


def test_period_boundaries_reset_cumulative_tiers_and_allowance(world, tokens):
    table = world.table()
    world.version(
        table,
        {tokens: {"model": "graduated", "tiers": [(100, "1", "0"), (None, "0.5", "0")]}},
        effective_from=ago(days=60),
    )
    now = timezone.now()
    anchor = now.day if now.day <= 28 else 1
    acme = world.customer("acme", table, billing_model="postpaid", anchor_day=anchor, allowances={tokens: "10"})
    period_start = datetime(now.year, now.month, anchor, tzinfo=UTC)
    if period_start > now:
        period_start = (
            period_start.replace(month=period_start.month - 1)
            if period_start.month > 1
            else period_start.replace(year=period_start.year - 1, month=12)
        )
    if period_start > now - timedelta(minutes=5):  # keep the test away from the clock edge
        pytest.skip("period starts right now")
    ingest(
        [
            world.event(acme, tokens, 100, period_start - timedelta(microseconds=1), id="last-of-previous"),
            world.event(acme, tokens, 100, period_start, id="first-of-period"),
            world.event(acme, tokens, 20, period_start + timedelta(seconds=1), id="second-of-period"),
        ]
    )
    rate()
    by_ref = {r.event_ref: r for r in records()}
    previous, first, second = by_ref["last-of-previous"], by_ref["first-of-period"], by_ref["second-of-period"]
    assert previous.period_start < first.period_start == period_start
    # Each period starts at position 0: 10 included, then 90 at tier 1.
    for r in (previous, first):
        assert (r.prior_quantity, r.included_quantity, r.amount, r.tier) == (0, 10, 90, 1)
    assert (second.prior_quantity, second.included_quantity, second.amount, second.tier) == (100, 0, 10, 2)


def test_graduated_tiers_across_batches_and_package_and_volume(world):
    table = world.table()
    grad = world.meter("grad")
    vol = world.meter("vol")
    pack = world.meter("pack", unit="image")
    world.version(
        table,
        {
            grad: {"model": "graduated", "tiers": [(1000, "10", "0"), (None, "5", "0")], "per": "1000"},
            vol: {"model": "volume", "tiers": [(100, "2", "0"), (None, "1", "0")]},
            pack: {"model": "package", "price": "3", "per": "10"},
        },
        effective_from=ago(days=60),
    )
    acme = world.customer("acme", table, billing_model="postpaid")
    for q, minutes in ((600, 30), (600, 20)):
        ingest(
            [
                world.event(acme, grad, q, ago(minutes=minutes)),
                world.event(acme, vol, q // 10, ago(minutes=minutes)),
                world.event(acme, pack, q // 100, ago(minutes=minutes)),
            ]
        )
        rate()
    by_meter = {}
    for r in records():
        by_meter.setdefault(r.meter_id, []).append(r.amount)
    assert by_meter[grad.id] == [D(6), D("5.0")]  # 600 at 10/1000; 400 at 10/1000 + 200 at 5/1000
    assert by_meter[vol.id] == [D(120), D(0)]  # 60 at 2; then 120 at 1 = 120 in total: a zero delta
    assert sum(by_meter[pack.id]) == D(6)  # 12 images = 2 packages of 10


def test_count_meter_bills_events_not_quantity(world):
    table = world.table()
    calls = world.meter("agent.actions", unit="action", aggregation="count", cost="0.01")
    world.version(table, {calls: "0.1"}, effective_from=ago(days=60))
    acme = world.customer("acme", table, billing_model="postpaid")
    ingest([world.event(acme, calls, 57, ago(minutes=3)), world.event(acme, calls, 3, ago(minutes=2))])
    rate()
    assert [(r.quantity, r.amount, r.cost) for r in records()] == [(1, D("0.1"), D("0.01"))] * 2


def test_overrides_multiplier_and_fixed(world, tokens):
    images = world.meter("images", unit="image")
    table = world.table()
    world.version(
        table,
        {tokens: {"model": "graduated", "tiers": [(100, "1", "0"), (None, "0.5", "0")]}, images: "4"},
        effective_from=ago(days=60),
    )
    acme = world.customer(
        "acme",
        table,
        billing_model="postpaid",
        overrides={tokens: ("multiplier", "0.8"), images: ("fixed", "30", "10")},
    )
    ingest([world.event(acme, tokens, 150, ago(minutes=3)), world.event(acme, images, 5, ago(minutes=3))])
    rate()
    t, i = sorted(records(), key=lambda r: r.meter_id)
    assert (t.amount, t.override_kind, t.override_value) == (D("100"), "multiplier", D("0.8"))  # (100 + 25) x 0.8
    assert t.lines[1]["unit_price"] == "0.400000000000"
    assert (i.amount, i.override_kind, i.unit_price, i.price_per_units) == (D(15), "fixed", D(30), D(10))


def test_cost_from_the_meter_cost_in_force(world):
    table = world.table()
    gpu = world.meter("gpu.seconds", unit="second")
    world.cost(gpu, "0.5", effective_from=ago(days=100))
    change = ago(hours=5)
    world.cost(gpu, "2", per="2", effective_from=change)  # 1 per second
    world.version(table, {gpu: "3"}, effective_from=ago(days=60))
    acme = world.customer("acme", table, billing_model="postpaid")
    ingest(
        [
            world.event(acme, gpu, 10, change - timedelta(seconds=1), id="old"),
            world.event(acme, gpu, 10, change, id="new"),
        ]
    )
    rate()
    assert {r.event_ref: r.cost for r in records()} == {"old": D(5), "new": D(10)}


def test_allowance_first_then_credits_one_debit_per_customer_per_batch(world, tokens):
    table = world.table(unit="credits")
    world.version(table, {tokens: "1"}, effective_from=ago(days=60))
    acme = world.customer("acme", table, allowances={tokens: "50"}, credits="1000", price_per_credit="0.1")
    ingest([world.event(acme, tokens, 40, ago(minutes=10 - i)) for i in range(5)])
    rate()
    rs = records()
    assert [r.included_quantity for r in rs] == [40, 10, 0, 0, 0]
    assert [r.credits_drawn for r in rs] == [0, 30, 40, 40, 40]
    assert sum(r.revenue for r in rs) == D("15.0")  # 150 credits paid 0.1 each
    debits = LedgerEntry.objects.filter(entry_type="debit")
    assert debits.count() == 1 and debits.get().amount == -150
    assert {r.ledger_entry_id for r in rs if r.credits_drawn} == {debits.get().pk}
    assert wallet_balance(customer_id=acme.pk).balance == 850


def test_hybrid_credits_converted_with_the_credit_price_then_overage(world, tokens):
    table = world.table()  # USD
    world.version(table, {tokens: "2"}, effective_from=ago(days=60))
    acme = world.customer(
        "acme",
        table,
        billing_model="hybrid",
        enforcement="unlimited",
        credit_price="0.5",
        credits="10",
        price_per_credit="0.5",
    )
    ingest([world.event(acme, tokens, 2, ago(minutes=2), id="a"), world.event(acme, tokens, 2, ago(minutes=1), id="b")])
    rate()
    a, b = records()
    # $4 each = 8 credits at $0.5; 10 credits available: a takes 8, b takes 2 and 6 credits (= $3) are overage.
    assert (a.credits, a.credits_drawn, a.overage_amount, a.over_limit) == (8, 8, 0, False)
    assert (b.credits, b.credits_drawn, b.overage_units, b.overage_amount, b.over_limit) == (8, 2, 6, D(3), False)
    assert (b.credit_quantity, b.overage_quantity) == (D("0.5"), D("1.5"))
    assert a.revenue + b.revenue == D(8)  # 10 credits x 0.5 + $3 overage


@pytest.mark.parametrize(
    "policy,limit,drawn,overage,over_limit",
    [
        ("hard", "0", 30, 0, 20),
        ("soft", "15", 30, 15, 5),
        ("unlimited", "0", 30, 20, 0),
    ],
)
def test_prepaid_enforcement_policies(world, tokens, policy, limit, drawn, overage, over_limit):
    table = world.table(unit="credits")
    world.version(table, {tokens: "1"}, effective_from=ago(days=60))
    acme = world.customer("acme", table, enforcement=policy, overdraft_limit=limit, credits="30")
    ingest([world.event(acme, tokens, 10, ago(minutes=10 - i)) for i in range(5)])
    rate()
    rs = records()
    assert sum(r.amount for r in rs) == 50  # always rated in full
    assert sum(r.credits_drawn for r in rs) == drawn
    assert sum(r.overage_units for r in rs) == overage
    assert sum(r.over_limit_quantity for r in rs) == over_limit
    assert [r.over_limit for r in rs] == [False] * (5 - -(-over_limit // 10)) + [True] * -(-over_limit // 10)
    assert wallet_balance(customer_id=acme.pk).balance == 0
    assert wallet_conservation(customer_id=acme.pk).holds
    # The cap holds across batches: more usage later is all over limit (or all overage when unlimited).
    ingest([world.event(acme, tokens, 10, ago(minutes=1))])
    rate()
    last = records()[-1]
    assert last.over_limit is (policy != "unlimited")


def test_postpaid_accrues_overage_and_a_spend_limit_caps_it(world, tokens):
    table = world.table()
    world.version(table, {tokens: "1"}, effective_from=ago(days=60))
    free = world.customer("free-spend", table, billing_model="postpaid", enforcement="hard")
    capped = world.customer("capped", table, billing_model="postpaid", enforcement="soft", overdraft_limit="25")
    ingest([world.event(c, tokens, 10, ago(minutes=5 - i)) for c in (free, capped) for i in range(3)])
    rate()
    assert sum(r.overage_amount for r in records(free)) == 30 and not any(r.over_limit for r in records(free))
    assert [r.overage_amount for r in records(capped)] == [10, 10, 5]
    assert records(capped)[-1].over_limit and LedgerEntry.objects.filter(entry_type="debit").count() == 0


def test_events_without_contract_or_version_are_errors_not_charges(world, tokens):
    table = world.table()
    world.version(table, {tokens: "1"}, effective_from=ago(days=3))
    acme = world.customer("acme", table, starts_at=ago(days=10))
    ingest(
        [world.event(acme, tokens, 1, ago(days=5), id="no-version"), world.event(acme, tokens, 1, ago(days=1), id="ok")]
    )
    other = world.meter("unpriced")
    ingest([world.event(acme, other, 1, ago(days=1), id="no-rate")])
    summary = rate()
    assert summary.errors == 2
    states = dict(UsageEvent.objects.values_list("event_id", "state"))
    assert states == {"no-version": "error", "ok": "rated", "no-rate": "error"}
    assert "no approved rate table version" in UsageEvent.objects.get(event_id="no-version").rating_error


def test_a_retried_task_changes_nothing_and_a_failed_batch_leaves_no_trace(world, tokens, monkeypatch):
    table = world.table(unit="credits")
    world.version(table, {tokens: "1"}, effective_from=ago(days=60))
    acme = world.customer("acme", table, credits="100")
    ingest([world.event(acme, tokens, 5, ago(minutes=5 - i)) for i in range(4)])

    from apps.usage.rating import engine

    def boom(*args, **kwargs):
        raise RuntimeError("database went away mid-batch")

    monkeypatch.setattr(engine, "update_rollups", boom)
    with pytest.raises(RuntimeError):
        usage_rate_pending()
    assert RatedUsage.objects.count() == 0 and RatingBatch.objects.count() == 0
    assert LedgerEntry.objects.filter(entry_type="debit").count() == 0
    assert set(UsageEvent.objects.values_list("state", flat=True)) == {"pending"}
    monkeypatch.undo()

    first = usage_rate_pending()
    second = usage_rate_pending()
    assert (first.events, second.events) == (4, 0)
    assert wallet_balance(customer_id=acme.pk).balance == 80
    assert LedgerEntry.objects.filter(entry_type="debit").count() == 1
