"""Property: over generated usage, contracts and versions, a simulation equals what approving the version from the
range start and re-rating writes, per customer x meter, to the last decimal place, and writes nothing itself."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from apps.contracts import services as contracts
from apps.usage.simulation.models import Simulation
from apps.usage.simulation.services import simulation_create, simulation_run
from tests.usage.builders import D, _override, ago, ingest, rate
from tests.usage.simulation.helpers import approve_backdated_and_rerate, draft, snapshot

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)
FIGURES = ("quantity", "amount", "credits", "overage_amount", "revenue", "cost")

prices = st.sampled_from(["0.001", "0.004", "0.01", "0.02", "0.05"])


@st.composite
def rate_specs(draw):
    model = draw(st.sampled_from(["per_unit", "graduated", "volume", "package"]))
    if model == "per_unit":
        return {"price": draw(prices), "free": draw(st.sampled_from(["0", "0", "100"]))}
    if model == "package":
        return {"model": "package", "price": draw(prices), "per": draw(st.sampled_from(["10", "100"]))}
    bounds = sorted(draw(st.sets(st.sampled_from([100, 300, 800, 2000, 5000]), min_size=1, max_size=3)))
    tiers = [(b, draw(prices), draw(st.sampled_from(["0", "0", "1"]))) for b in bounds] + [(None, draw(prices), "0")]
    return {"model": model, "tiers": tiers}


contract_specs = st.fixed_dictionaries(
    {
        "billing": st.sampled_from(
            [
                ("prepaid", "hard"),
                ("prepaid", "soft"),
                ("prepaid", "unlimited"),
                ("postpaid", "unlimited"),
                ("hybrid", "soft"),
            ]
        ),
        "credits": st.sampled_from([None, "5", "40", "1000"]),
        "included": st.sampled_from(["0", "0", "3", "20"]),
        "allowance": st.sampled_from([None, "200", "1500"]),
        "override": st.sampled_from([None, ("multiplier", "0.8"), ("fixed", "0.003", "1")]),
    }
)
usage = st.lists(
    st.tuples(st.integers(min_value=0, max_value=24), st.integers(min_value=1, max_value=1500)), min_size=2, max_size=14
)


def generated_world(world, old: dict, customers: list, *, tag: str, anchor_step: int) -> tuple:
    """A credits table priced by `old` from 90 days ago, one customer per (contract spec, usage) with its contract
    and grant, their usage ingested and rated: (table, meter, customers)."""
    tokens = world.meter(f"tok.{tag}", cost="0.002")
    table = world.table(unit="credits")
    world.version(table, {tokens: old}, effective_from=ago(days=90))
    made, events = [], []
    for index, (spec, rows) in enumerate(customers):
        billing_model, enforcement = spec["billing"]
        customer = contracts.customer_create(external_id=f"{tag}-{index}", name="Prop", actor=world.owner)
        contracts.contract_create(
            customer_id=customer.pk,
            rate_table_id=table.id,
            starts_at=datetime(2020, 1, 1, tzinfo=UTC),
            billing_model=billing_model,
            enforcement=enforcement,
            overdraft_limit=D("3") if enforcement == "soft" else D(0),
            included_credits=D(spec["included"]),
            billing_anchor_day=1 + index * anchor_step,
            allowances={tokens.id: D(spec["allowance"])} if spec["allowance"] else {},
            overrides={tokens.id: _override(*spec["override"])} if spec["override"] else {},
            actor=world.finance,
        )
        if spec["credits"] is not None:
            world.grant(customer, spec["credits"], price_per_credit="0.5")
        events += [world.event(customer, tokens, q, ago(days=d, hours=1, minutes=i)) for i, (d, q) in enumerate(rows)]
        made.append(customer)
    ingest(events)
    rate()
    return table, tokens, made


@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    old=rate_specs(),
    new=rate_specs(),
    customers=st.lists(st.tuples(contract_specs, usage), min_size=1, max_size=3),
    first_days_ago=st.integers(min_value=1, max_value=24),
)
def test_simulation_equals_approval_then_rerate(world, old, new, customers, first_days_ago):
    table, tokens, made = generated_world(world, old, customers, tag=f"p{next(_ids)}", anchor_step=9)
    version = draft(world, table, {tokens: new})
    first, last = (timezone.now() - timedelta(days=first_days_ago)).date(), timezone.now().date()

    simulation = simulation_create(version_id=version.id, actor=world.owner, start=first, end=last)
    before = snapshot()
    simulation = simulation_run(simulation_id=simulation.pk)
    assert simulation.state == Simulation.State.DONE, simulation.error
    assert snapshot() == before
    lines = {(line.customer_id, line.meter_id): line for line in simulation.lines.all()}

    expected = approve_backdated_and_rerate(world, version, first=first, last=last, customers=made)
    assert set(expected) == set(lines)
    for key, sums in expected.items():
        for name in FIGURES:
            assert getattr(lines[key], f"{name}_simulated") == sums[name], (key, name)
