"""Rating is batch-split invariant: one batch, k batches or a shuffled arrival order give identical Decimal totals
(and identical per-event prices), including late events, a version change and a period boundary in the middle."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from apps.usage.models import DailyUsage, RatedUsage, RatingCursor
from apps.usage.rating import rebuild_rollups_between
from apps.usage.services import usage_rate_pending
from apps.wallets.selectors import wallet_balance, wallet_conservation
from tests.usage.builders import D, ingest

pytestmark = pytest.mark.django_db

# What pricing decides (quantities, included, amount, credits needed, cost, every event's price and position) is
# invariant, always. What the wallet decides is invariant in total (drawn = min(need, balance); overage within the
# cap) with one exception: a soft overdraft limit is per billing period while the wallet is shared, so when a short
# wallet meets events of two periods, how much overage each period takes follows the order events were rated in.
# Which events take a shortfall also follows rating order, so the *quantity* split between credits, overage and
# over limit is compared only when the wallet covers everything.
PRICED = ("quantity", "included_quantity", "amount", "credits", "cost")
WALLET = ("credits_drawn", "overage_units", "overage_amount", "revenue")
QUANTITY_SPLIT = ("credit_quantity", "overage_quantity", "over_limit_quantity")
_customers = itertools.count(1)


@pytest.fixture
def catalog(world):
    now = timezone.now().replace(microsecond=0)
    tokens = world.meter("tok", cost="0.001")
    images = world.meter("img", unit="image", cost="0.3")
    volume = world.meter("vol", cost="0.01")
    table = world.table(unit="credits")
    world.version(
        table,
        {
            tokens: {"model": "graduated", "tiers": [(500, "0.02", "0"), (2000, "0.01", "1"), (None, "0.005", "0")]},
            images: {"model": "package", "price": "3", "per": "4"},
            volume: {"model": "volume", "tiers": [(300, "0.05", "0"), (None, "0.02", "2")]},
        },
        effective_from=now - timedelta(days=60),
    )
    world.version(
        table,
        {
            tokens: {"model": "graduated", "tiers": [(800, "0.03", "0"), (None, "0.004", "0")], "free": "50"},
            images: "0.7",
            volume: {"model": "volume", "tiers": [(200, "0.04", "0"), (None, "0.01", "0")]},
        },
        effective_from=now - timedelta(days=3, hours=7),
    )
    anchor = (now - timedelta(days=5)).day
    return {"world": world, "table": table, "meters": [tokens, images, volume], "now": now, "anchor": anchor}


def totals(customer, *, wallet: bool = True, split: bool = True) -> dict:
    rs = list(RatedUsage.objects.filter(customer=customer, superseded_at__isnull=True))
    names = PRICED + (WALLET if wallet else ()) + (QUANTITY_SPLIT if split else ())
    result = {name: sum((getattr(r, name) for r in rs), Decimal(0)) for name in names}
    if wallet:
        result["over_limit_credits"] = result["credits"] - result["credits_drawn"] - result["overage_units"]
    return result


def per_event(customer) -> dict:
    return {
        r.event_ref: (r.amount, r.included_quantity, r.prior_quantity, r.tier, r.rate_version_id)
        for r in RatedUsage.objects.filter(customer=customer, superseded_at__isnull=True)
    }


def assert_rollups_match_records(customer) -> None:
    rs = RatedUsage.objects.filter(customer=customer, superseded_at__isnull=True)
    expected: dict = {}
    for r in rs:
        row = expected.setdefault((r.meter_id, r.day), [0, Decimal(0), Decimal(0), Decimal(0), Decimal(0)])
        row[0] += 1
        row[1] += r.quantity
        row[2] += r.amount
        row[3] += r.credits_drawn
        row[4] += r.cost
    actual = {
        (d.meter_id, d.day): [d.events, d.quantity, d.amount, d.credits, d.cost]
        for d in DailyUsage.objects.filter(customer=customer)
    }
    assert actual == expected
    assert_coarse_rollups_match_daily()
    assert_rollups_equal_a_rebuild(customer)
    assert_coarse_rollups_match_daily()
    cursors: dict = {}
    for r in rs:
        cursors[(r.meter_id, r.period_start)] = cursors.get((r.meter_id, r.period_start), Decimal(0)) + r.quantity
    assert {
        (c.meter_id, c.period_start): c.quantity
        for c in RatingCursor.objects.filter(customer=customer)
        if c.quantity or (c.meter_id, c.period_start) in cursors
    } == cursors


def _rollup_rows(customer) -> tuple[dict, dict]:
    from apps.usage.models import DailyAttribution

    def row(obj, key_fields):
        values = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
        for name in ("id", "updated_at"):
            values.pop(name)
        return tuple(values[k] for k in key_fields), values

    daily = dict(row(d, ("meter_id", "day")) for d in DailyUsage.objects.filter(customer=customer))
    attribution = dict(row(a, ("day", "kind", "value")) for a in DailyAttribution.objects.filter(customer=customer))
    return daily, attribution


def assert_coarse_rollups_match_daily() -> None:
    """usage_weekly and usage_daily_meter are exactly the sums of usage_daily's rows (every customer), however the
    rating runs, rebuilds and re-rates got there; a coarse key left without usage sums to all zeros."""
    from apps.usage.models import METER_DAY_SUMS, WEEKLY_SUMS, DailyMeterTotal, WeeklyUsage, week_of

    weekly: dict = {}
    by_day: dict = {}
    for d in DailyUsage.objects.all():
        w = weekly.setdefault((d.customer_id, d.meter_id, week_of(d.day)), [0] + [Decimal(0)] * len(WEEKLY_SUMS))
        m = by_day.setdefault((d.meter_id, d.day), [0] + [Decimal(0)] * len(METER_DAY_SUMS))
        for acc, names in ((w, WEEKLY_SUMS), (m, METER_DAY_SUMS)):
            acc[0] += d.events
            for i, name in enumerate(names):
                acc[1 + i] += getattr(d, name)
    for model, key, names, expected in (
        (WeeklyUsage, ("customer_id", "meter_id", "week"), WEEKLY_SUMS, weekly),
        (DailyMeterTotal, ("meter_id", "day"), METER_DAY_SUMS, by_day),
    ):
        summed: dict = {}  # usage_daily_meter may hold more than one row per key (appended changes)
        for row in model.objects.all():
            acc = summed.setdefault(tuple(getattr(row, k) for k in key), [0] + [Decimal(0)] * len(names))
            for i, value in enumerate([row.events] + [getattr(row, n) for n in names]):
                acc[i] += value
        for values in summed.values():
            assert values[0] or not any(values), (model.__name__, values)
        assert {k: v for k, v in summed.items() if v[0]} == expected, model.__name__


def assert_rollups_equal_a_rebuild(customer) -> None:
    """Every rollup row, every column, as a rebuild from the current records gives it (however the run got there:
    rebuilt where records were superseded, added to where records were only added)."""
    days = list(RatedUsage.objects.filter(customer=customer).values_list("day", flat=True))
    if not days:
        return
    kept = _rollup_rows(customer)
    rebuild_rollups_between(start=min(days), end=max(days), customer_id=customer.pk)
    assert _rollup_rows(customer) == kept


event_strategy = st.tuples(
    st.integers(min_value=0, max_value=2),  # meter
    st.one_of(
        st.integers(min_value=0, max_value=900).map(Decimal),
        st.decimals(min_value=0, max_value=50, places=3, allow_nan=False, allow_infinity=False),
    ),
    st.integers(min_value=0, max_value=9 * 24 * 60 - 2),  # minutes before now - 1 min
    st.sampled_from(["u1", "u2", "bot"]),
)


@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=st.lists(event_strategy, min_size=1, max_size=30),
    k=st.integers(min_value=1, max_value=6),
    seed=st.integers(min_value=0, max_value=10**6),
    wallet=st.sampled_from([("unlimited", "0", "100000"), ("hard", "0", "12"), ("soft", "9", "7")]),
)
# Found by this test: a volume true-up gave credits back to the wallet while the period was in overage or over
# the limit (one batch: 0.21 credits left undrawn with overage at its cap of 9), and a credit note on overage did
# not free room under the cap in later batches (cursors counted positive overage only).
@example(
    events=[
        (1, Decimal("1.109"), 24, "u2"),
        (2, Decimal("701"), 533, "bot"),
        (0, Decimal("1.109"), 1761, "bot"),
        (2, Decimal("221"), 6457, "u2"),
        (0, Decimal("55"), 682, "u2"),
        (2, Decimal("221"), 6457, "u2"),
        (0, Decimal("99"), 3675, "u2"),
    ],
    k=1,
    seed=335,
    wallet=("soft", "9", "7"),
)
def test_one_batch_k_batches_and_shuffled_give_identical_totals(catalog, events, k, seed, wallet):
    world, now = catalog["world"], catalog["now"]
    meters = catalog["meters"]
    enforcement, overdraft, credits = wallet
    customers = []
    for _ in range(3):
        customers.append(
            world.customer(
                f"inv-{next(_customers)}",
                catalog["table"],
                enforcement=enforcement,
                overdraft_limit=overdraft,
                anchor_day=catalog["anchor"],
                credits=credits,
                price_per_credit="0.5",
                allowances={meters[0]: "300"},
                overrides={meters[1]: ("multiplier", "0.9")},
            )
        )

    def raw(customer):
        return [
            world.event(customer, meters[m], q, now - timedelta(minutes=1 + minutes), id=f"ev-{i:03d}", user=u)
            for i, (m, q, minutes, u) in enumerate(events)
        ]

    one, split, shuffled = customers
    # 1. one batch
    ingest(raw(one))
    usage_rate_pending(batch_size=10_000)
    # 2. k events per batch, in arrival order
    ingest(raw(split))
    usage_rate_pending(batch_size=k)
    # 3. shuffled arrival, ingested in chunks, rated after each chunk in batches of k
    rows = raw(shuffled)
    random.Random(seed).shuffle(rows)
    for start in range(0, len(rows), k + 1):
        ingest(rows[start : start + k + 1])
        usage_rate_pending(batch_size=max(1, k - 1))

    covered = enforcement == "unlimited"
    periods = RatedUsage.objects.filter(customer=one).values("period_start").distinct().count()
    wallet_invariant = covered or enforcement == "hard" or periods == 1
    reference = totals(one, wallet=wallet_invariant, split=covered)
    assert totals(split, wallet=wallet_invariant, split=covered) == reference
    assert totals(shuffled, wallet=wallet_invariant, split=covered) == reference
    assert per_event(split) == per_event(one) == per_event(shuffled)
    for customer in customers:
        assert_rollups_match_records(customer)
        assert wallet_conservation(customer_id=customer.pk).holds


def test_rollups_equal_records_after_late_duplicate_and_retried_work(catalog):
    world, now = catalog["world"], catalog["now"]
    tokens, images, _ = catalog["meters"]
    acme = world.customer(
        "late-dupes", catalog["table"], credits="100000", anchor_day=catalog["anchor"], allowances={tokens: "300"}
    )
    batch1 = [world.event(acme, tokens, 400, now - timedelta(hours=h), id=f"a{h}", agent="bot") for h in range(1, 6)]
    ingest(batch1)
    usage_rate_pending()
    # Late events (before everything rated), duplicates of the first batch, then a rebuild from scratch.
    late = [world.event(acme, tokens, 250, now - timedelta(days=d), id=f"late{d}", team="legal") for d in range(1, 4)]
    late.append(world.event(acme, images, 9, now - timedelta(days=2), id="img"))
    result = ingest(late + batch1)
    assert (result.ingested, result.duplicates) == (4, 5)
    usage_rate_pending(batch_size=2)
    usage_rate_pending()  # a retried task: nothing to do
    assert_rollups_match_records(acme)
    before = {
        (d.meter_id, d.day): (d.events, d.quantity, d.amount, d.credits, d.revenue, d.cost)
        for d in DailyUsage.objects.filter(customer=acme)
    }
    rebuild_rollups_between(start=(now - timedelta(days=10)).date(), end=now.date(), customer_id=acme.pk)
    after = {
        (d.meter_id, d.day): (d.events, d.quantity, d.amount, d.credits, d.revenue, d.cost)
        for d in DailyUsage.objects.filter(customer=acme)
    }
    assert after == before
    from apps.usage.models import DailyAttribution

    by_kind = {}
    for row in DailyAttribution.objects.filter(customer=acme):
        by_kind[(row.kind, row.value)] = by_kind.get((row.kind, row.value), 0) + row.events
    assert by_kind == {("agent", "bot"): 5, ("team", "legal"): 3}


def _hard_twins(catalog, name: str) -> tuple:
    """Two customers on the same terms (hard, 12 credits at 0.5, images at 0.9 x list): one rated in one batch,
    the other as its events arrive."""
    images = catalog["meters"][1]
    return tuple(
        catalog["world"].customer(
            f"{name}-{i}",
            catalog["table"],
            enforcement="hard",
            credits="12",
            price_per_credit="0.5",
            anchor_day=catalog["anchor"],
            overrides={images: ("multiplier", "0.9")},
        )
        for i in range(2)
    )


def test_volume_true_up_on_a_hard_contract_cancels_usage_over_the_limit_before_giving_credits_back(catalog):
    """12 credits, hard: 150 volume units (6 credits) and 100 images (63 credits) draw all 12 and leave 57 over
    the limit; 60 more volume units lower the volume price (-3.9 credits). The true-up cancels 3.9 of what was
    over the limit: all 12 credits stay drawn, whether the true-up is rated with the rest or in a later batch
    (it used to give 3.9 back to the grant, where they stayed undrawn while usage was over the limit)."""
    world, now = catalog["world"], catalog["now"]
    _, images, volume = catalog["meters"]
    one, split = _hard_twins(catalog, "hard-trueup")

    def raw(customer):
        return [
            world.event(customer, volume, 150, now - timedelta(hours=3), id="vol-150"),
            world.event(customer, images, 100, now - timedelta(hours=2), id="img-100"),
            world.event(customer, volume, 60, now - timedelta(hours=1), id="vol-60"),
        ]

    ingest(raw(one))
    usage_rate_pending()
    first, second = raw(split)[:2], raw(split)[2:]
    ingest(first)
    usage_rate_pending()
    ingest(second)
    usage_rate_pending()
    for customer in (one, split):
        result = totals(customer, split=False)
        assert result["credits"] == D("65.1")  # 6 + 63 - 3.9
        assert result["credits_drawn"] == D("12")
        assert result["revenue"] == D("6")
        assert result["overage_units"] == 0
        assert result["over_limit_credits"] == D("53.1")
        assert wallet_balance(customer_id=customer.pk).balance == 0
        assert wallet_conservation(customer_id=customer.pk).holds


def test_credits_a_true_up_gives_back_pay_for_usage_left_over_the_limit_in_another_period(catalog):
    """12 credits, hard, two billing periods. Newer period: 9 images (5.67 credits) and 150 volume units (6); older
    period, arriving later: 100 volume units (5). Then 60 more volume units in the newer period lower its volume
    price (-3.9 credits). Rated in one batch (older period first) every credit is drawn and 0.77 stay over the
    limit. Rated as it arrives, the older period found 0.33 credits left (4.67 over the limit) and the true-up then
    gave 3.9 credits back to the wallet, where they stayed while that usage was unpaid: they pay for it now."""
    world, now = catalog["world"], catalog["now"]
    _, images, volume = catalog["meters"]
    one, split = _hard_twins(catalog, "two-periods")

    def raw(customer):
        return [
            world.event(customer, images, 9, now - timedelta(hours=2), id="img-9"),
            world.event(customer, volume, 150, now - timedelta(hours=1), id="vol-150"),
            world.event(customer, volume, 100, now - timedelta(days=6), id="old-vol-100"),
            world.event(customer, volume, 60, now - timedelta(minutes=30), id="vol-60"),
        ]

    ingest(raw(one))
    usage_rate_pending()
    events = raw(split)
    for arriving in (events[:2], events[2:3], events[3:]):
        ingest(arriving)
        usage_rate_pending()
    assert RatedUsage.objects.filter(customer=one).values("period_start").distinct().count() == 2
    for customer in (one, split):
        result = totals(customer, split=False)
        assert result["credits"] == D("12.77")  # 5.67 + 2.1 (210 units at 0.01) + 5
        assert result["credits_drawn"] == D("12")
        assert result["over_limit_credits"] == D("0.77")
        assert wallet_balance(customer_id=customer.pk).balance == 0
        assert wallet_conservation(customer_id=customer.pk).holds
        assert_rollups_match_records(customer)
