"""Property: over generated cohorts, grandfathering dates, segments, contract starts and price protections, rating
and then re-rating (after a later backdated version and a protection change) price every event by the version the
one pure choice (apps.catalog.cohorts.version_for_contract) picks from the plain facts."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from apps.catalog.cohorts import Cohort, ContractFacts, version_for_contract
from apps.catalog.selectors import rate_table_versions_approved
from apps.contracts import services as contracts
from apps.contracts.models import Contract
from apps.core.actors import SYSTEM
from apps.usage.models import RatedUsage
from apps.usage.services import usage_rerate
from tests.usage.builders import ago, ingest, rate

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)
SEGMENTS = ("startup", "smb", "enterprise")
VERSION_DAYS = (50, 25, 12)  # effective days ago of the generated versions
STARTS = (None, 40, 20, 6)  # contract start in days ago (None: long ago)

cohorts = st.fixed_dictionaries(
    {
        "cohort": st.sampled_from([Cohort.ALL, Cohort.NEW_CONTRACTS, Cohort.CHOSEN]),
        "customers": st.sets(st.integers(min_value=0, max_value=3), max_size=2),
        "segments": st.sets(st.sampled_from(SEGMENTS), max_size=2),
        "grandfather_days": st.sampled_from([None, None, 4]),  # grandfathering ends this many days ago
    }
)
customers = st.fixed_dictionaries(
    {
        "segment": st.sampled_from(SEGMENTS),
        "start": st.sampled_from(STARTS),
        "protection": st.sampled_from([None, (0, 3), (1, None), (0, None)]),  # (version index, until days ago)
        "days": st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=5),
    }
)


def _cohort_kwargs(spec: dict, ext_ids: list[str], effective: datetime) -> dict:
    chosen = spec["cohort"] == Cohort.CHOSEN
    customers_ = [ext_ids[i] for i in spec["customers"] if i < len(ext_ids)] if chosen else []
    segments = sorted(spec["segments"]) if chosen else []
    if chosen and not customers_ and not segments:
        segments = ["enterprise"]
    until = ago(days=spec["grandfather_days"]) if spec["grandfather_days"] is not None else None
    if until is not None and until <= effective:
        until = None
    return {
        "cohort": spec["cohort"],
        "cohort_customers": customers_,
        "cohort_segments": segments,
        "grandfather_until": until,
    }


def _check(table, made) -> int:
    """Every current record is priced by the version the pure choice picks; returns how many were checked."""
    versions = rate_table_versions_approved(rate_table_ids=[table.id])[table.id]
    checked = 0
    for customer, facts in made:
        for record in RatedUsage.objects.filter(customer=customer, superseded_at__isnull=True):
            choice = version_for_contract(versions, facts(), record.timestamp)
            assert choice is not None
            assert record.rate_version_id == choice.version.id, (customer.external_id, record.timestamp, choice.rule)
            checked += 1
    return checked


@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    version_specs=st.lists(cohorts, min_size=2, max_size=3),
    customer_specs=st.lists(customers, min_size=1, max_size=4),
    later=cohorts,
)
def test_rating_and_rerating_pick_the_version_the_pure_choice_picks(world, version_specs, customer_specs, later):
    n = next(_ids)
    meter = world.meter(f"tok.c{n}")
    table = world.table()
    ext_ids = [f"c{n}-{i}" for i in range(len(customer_specs))]
    versions = []
    for index, spec in enumerate(version_specs):
        effective = ago(days=VERSION_DAYS[index])
        kwargs = _cohort_kwargs(spec, ext_ids, effective) if index else {}
        versions.append(world.version(table, {meter: str(index + 1)}, effective_from=effective, **kwargs))

    made, events = [], []
    for ext_id, spec in zip(ext_ids, customer_specs, strict=True):
        starts_at = ago(days=spec["start"]) if spec["start"] is not None else datetime(2020, 1, 1, tzinfo=UTC)
        protected, until = None, None
        if spec["protection"] is not None:
            index, until_days = spec["protection"]
            protected = versions[min(index, len(versions) - 1)]
            until = ago(days=until_days) if until_days is not None else timezone.now() + timedelta(days=30)
            if until <= starts_at:
                protected, until = None, None
        customer = world.customer(
            ext_id,
            table,
            segment=spec["segment"],
            starts_at=starts_at,
            protected_version=protected,
            protected_until=until,
        )
        contract_id = Contract.objects.get(customer=customer).pk

        def facts(contract_id=contract_id, ext_id=ext_id, segment=spec["segment"], starts_at=starts_at):
            c = Contract.objects.get(pk=contract_id)
            return ContractFacts(ext_id, segment, starts_at, c.protected_version_id, c.protected_until)

        made.append((customer, facts))
        for i, day in enumerate(spec["days"]):
            ts = ago(days=day, hours=1, minutes=i)
            if ts >= starts_at:
                events.append(world.event(customer, meter, 1, ts))
    if events:
        ingest(events)
    rate()
    assert _check(table, made) == len(events)

    # a later backdated version with its own cohort, and a protection that changes, then a re-rate of everything
    world.version(
        table, {meter: "9"}, effective_from=ago(days=8), backdated=True, **_cohort_kwargs(later, ext_ids, ago(days=8))
    )
    customer, _ = made[0]
    contract = Contract.objects.get(customer=customer)
    protect = None if contract.protected_version_id else versions[0].id
    contracts.contract_update(
        contract_id=contract.pk,
        protected_version_id=protect,
        protected_until=timezone.now() + timedelta(days=10) if protect else None,
        actor=world.finance,
        change_reason="property",
    )
    usage_rerate(start=ago(days=32), end=timezone.now() + timedelta(minutes=1), actor=SYSTEM, reason="property")
    assert _check(table, made) == len(events)
