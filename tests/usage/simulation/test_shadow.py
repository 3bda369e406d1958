"""Shadow rating: a simulation writes nothing but itself, equals what approving the version from the range start
and re-rating would write (per customer x meter, to the last decimal place), and leaves no trace for later rating."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.usage.models import RatedUsage
from apps.usage.simulation.models import Simulation
from apps.usage.simulation.services import simulation_create, simulation_run
from tests.usage.builders import ago, ingest, rate
from tests.usage.simulation.helpers import approve_backdated_and_rerate, draft, snapshot

pytestmark = pytest.mark.django_db

FIGURES = ("quantity", "amount", "credits", "overage_amount", "revenue", "cost")


@pytest.fixture
def priced(world):
    """Graduated and volume tiers, an override, an allowance, prepaid hard and soft, postpaid; usage over 20 days."""
    tokens = world.meter("tok", cost="0.001")
    images = world.meter("img", unit="image", cost="0.3")
    table = world.table(unit="credits")
    world.version(
        table,
        {
            tokens: {"model": "graduated", "tiers": [(500, "0.02", "0"), (2000, "0.01", "1"), (None, "0.005", "0")]},
            images: {"model": "volume", "tiers": [(10, "0.5", "0"), (None, "0.3", "2")]},
        },
        effective_from=ago(days=90),
    )
    hard = world.customer("hard", table, enforcement="hard", credits="40", allowances={tokens: "300"})
    soft = world.customer(
        "soft", table, enforcement="soft", overdraft_limit="5", credits="30", overrides={tokens: ("multiplier", "0.8")}
    )
    post = world.customer("post", table, billing_model="postpaid", overrides={images: ("fixed", "0.25", "1")})
    events = []
    for day in range(20):
        for customer in (hard, soft, post):
            events.append(world.event(customer, tokens, 120 + day * 7, ago(days=day, hours=1)))
            if day % 3 == 0:
                events.append(world.event(customer, images, 2 + day % 4, ago(days=day, hours=2)))
    ingest(events)
    rate()
    return world, table, tokens, images, (hard, soft, post)


NEW_PRICES = [
    lambda t, i: {
        t: {"model": "graduated", "tiers": [(400, "0.03", "0"), (None, "0.004", "0.5")], "free": "50"},
        i: {"model": "volume", "tiers": [(5, "0.9", "0"), (None, "0.2", "0")]},
    },
    lambda t, i: {t: "0.05", i: {"model": "package", "price": "3", "per": "4"}},
    lambda t, i: {t: {"model": "volume", "tiers": [(1000, "0.001", "0"), (None, "0.0005", "0")]}, i: "0.1"},
]


@pytest.mark.parametrize("new_prices", NEW_PRICES)
@pytest.mark.parametrize("days", [(12, 3), (25, 0)])
def test_simulation_writes_nothing_and_equals_approval_then_rerate(
    priced, new_prices, days, django_capture_on_commit_callbacks
):
    world, table, tokens, images, customers = priced
    version = draft(world, table, new_prices(tokens, images))
    first, last = (timezone.now() - timedelta(days=days[0])).date(), (timezone.now() - timedelta(days=days[1])).date()
    simulation = simulation_create(version_id=version.id, actor=world.owner, start=first, end=last)
    before = snapshot()
    with django_capture_on_commit_callbacks() as callbacks:
        simulation = simulation_run(simulation_id=simulation.pk)
    assert simulation.state == Simulation.State.DONE, simulation.error
    # Nothing rating, the wallet, alerts or approvals write changed; no signal or task was queued.
    assert snapshot() == before
    assert callbacks == []
    lines = {(line.customer_id, line.meter_id): line for line in simulation.lines.all()}
    assert {c for c, _ in lines} == {c.pk for c in customers}
    assert any(line.amount_now != line.amount_simulated for line in lines.values())

    expected = approve_backdated_and_rerate(world, version, first=first, last=last, customers=customers)
    assert set(expected) == set(lines)
    for key, sums in expected.items():
        line = lines[key]
        for name in FIGURES:
            assert getattr(line, f"{name}_simulated") == sums[name], (key, name)
            # To the last decimal place: the stored figure is the same number, digit for digit.
            assert str(getattr(line, f"{name}_simulated")) == str(sums[name].quantize(Decimal("1e-12"))), (key, name)


def test_no_trace_for_later_rating(priced):
    """After a simulation, new events are priced by the version really in force (the phantom approval is gone from
    the database and from any memo of this process)."""
    world, table, tokens, images, (hard, soft, post) = priced
    version = draft(world, table, {tokens: "9", images: "9"})
    simulation = simulation_create(version_id=version.id, actor=world.finance)
    assert simulation_run(simulation_id=simulation.pk).state == Simulation.State.DONE
    version.refresh_from_db()
    assert version.status == "draft" and version.effective_from is None
    ingest([world.event(post, tokens, 10, ago(minutes=5), id="after-sim")])
    rate()
    record = RatedUsage.objects.get(event__event_id="after-sim", superseded_at__isnull=True)
    assert record.rate_version_id != version.id
    assert record.unit_price != Decimal(9)
