"""Simulations honour the draft's cohort: only the contracts it applies to change, the result equals approving it
from the range start and re-rating, and changing the cohort makes a simulation stale."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.catalog import services as catalog
from apps.catalog.cohorts import Cohort
from apps.usage.simulation.models import Simulation
from apps.usage.simulation.selectors import simulation_is_fresh
from apps.usage.simulation.services import simulation_create, simulation_run
from tests.usage.builders import ago, ingest, rate
from tests.usage.simulation.helpers import approve_backdated_and_rerate, draft, snapshot

pytestmark = pytest.mark.django_db
FIGURES = ("quantity", "amount", "credits", "overage_amount", "revenue", "cost")


@pytest.mark.parametrize("cohort", [Cohort.NEW_CONTRACTS, Cohort.CHOSEN])
def test_simulation_with_a_cohort_changes_only_its_contracts_and_equals_approval_then_rerate(world, cohort):
    tokens = world.meter("tok", cost="0.001")
    table = world.table()
    world.version(table, {tokens: "0.01"}, effective_from=ago(days=90))
    old = world.customer("old", table, billing_model="postpaid", segment="smb")
    big = world.customer("big", table, billing_model="postpaid", segment="enterprise")
    renewed = world.customer("renewed", table, billing_model="postpaid", starts_at=ago(days=20))
    ingest([world.event(c, tokens, 100 + d, ago(days=d, hours=1)) for c in (old, big, renewed) for d in range(12)])
    rate()
    version = draft(world, table, {tokens: "0.03"})
    catalog.rate_table_version_set_cohort(
        version_id=version.id,
        cohort=cohort,
        segments=["enterprise"] if cohort == Cohort.CHOSEN else [],
        actor=world.owner,
    )
    first, last = ago(days=25).date(), timezone.now().date()
    simulation = simulation_create(version_id=version.id, actor=world.owner, start=first, end=last)
    before = snapshot()
    simulation = simulation_run(simulation_id=simulation.pk)
    assert simulation.state == Simulation.State.DONE, simulation.error
    assert snapshot() == before
    lines = {(line.customer_id, line.meter_id): line for line in simulation.lines.all()}
    changed = {c for (c, _), line in lines.items() if line.amount_now != line.amount_simulated}
    # the renewed contract started after the range start, so it is new to the version either way
    assert changed == ({renewed.pk} if cohort == Cohort.NEW_CONTRACTS else {renewed.pk, big.pk})

    expected = approve_backdated_and_rerate(world, version, first=first, last=last, customers=[old, big, renewed])
    assert set(expected) == set(lines)
    for key, sums in expected.items():
        for name in FIGURES:
            assert getattr(lines[key], f"{name}_simulated") == sums[name], (key, name)


def test_changing_the_cohort_makes_a_simulation_stale(world):
    tokens = world.meter("tok")
    table = world.table()
    world.version(table, {tokens: "0.01"}, effective_from=ago(days=90))
    world.customer("old", table)
    version = draft(world, table, {tokens: "0.02"})
    simulation = simulation_create(
        version_id=version.id, actor=world.owner, start=ago(days=3).date(), end=timezone.now().date()
    )
    simulation = simulation_run(simulation_id=simulation.pk)
    assert simulation_is_fresh(simulation)
    catalog.rate_table_version_set_cohort(version_id=version.id, cohort=Cohort.NEW_CONTRACTS, actor=world.owner)
    assert not simulation_is_fresh(simulation)
    catalog.rate_table_version_set_cohort(version_id=version.id, cohort=Cohort.ALL, actor=world.owner)
    assert simulation_is_fresh(simulation)
