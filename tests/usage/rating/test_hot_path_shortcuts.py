"""The rating hot path's shortcuts give what the definitions give.

Rating chooses each event's version once per interval between the instants where the choice can change
(ResolveStep._version_at). Over generated versions (cohorts, grandfathering ends), contracts (starts, segments,
price protection) and instants (the boundaries themselves, a microsecond either side, between them), the memoized
choice must be the one pure choice (apps.catalog.selectors.version_for_contract_at) makes for that instant. An event's three attribution
columns read at once (_attrs) are each one read alone (_attr)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.catalog.cohorts import Cohort
from apps.catalog.selectors import VersionSpec, version_for_contract_at
from apps.contracts.selectors import ContractTerms
from apps.usage.rating.resolve import ResolveStep
from apps.usage.rating.types import _attr, _attrs

BASE = datetime(2026, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
hours = st.integers(min_value=0, max_value=24 * 60).map(lambda h: BASE + timedelta(hours=h))


@st.composite
def setups(draw):
    versions = []
    for number, effective_from in enumerate(sorted(draw(st.lists(hours, min_size=0, max_size=4))), start=1):
        versions.append(
            VersionSpec(
                id=number,
                number=number,
                rate_table_id=1,
                effective_from=effective_from,
                cohort=draw(st.sampled_from(Cohort.values)),
                cohort_customers=frozenset(draw(st.sets(st.sampled_from(["c1", "c2"]), max_size=1))),
                cohort_segments=frozenset(draw(st.sets(st.sampled_from(["smb", "ent"]), max_size=1))),
                grandfather_until=draw(st.none() | hours),
            )
        )
    contract = ContractTerms(
        id=7,
        customer_id=1,
        rate_table_id=1,
        billing_model="postpaid",
        enforcement="unlimited",
        overdraft_limit=Decimal(0),
        credit_price=Decimal(1),
        included_credits=Decimal(0),
        base_fee=Decimal(0),
        currency="EUR",
        alert_thresholds=(),
        billing_anchor_day=1,
        starts_at=draw(hours),
        ends_at=None,
        customer_external_id=draw(st.sampled_from(["c1", "c2", "c3"])),
        segment=draw(st.sampled_from(["smb", "ent", "startup"])),
        protected_version_id=draw(st.none() | st.integers(min_value=1, max_value=5)),
        protected_until=draw(st.none() | hours),
    )
    instants = {contract.starts_at}
    for v in versions:
        instants.update(x for x in (v.effective_from, v.grandfather_until) if x is not None)
    if contract.protected_until is not None:
        instants.add(contract.protected_until)
    probes = [t + d for t in instants for d in (-US, timedelta(0), US, timedelta(hours=1))]
    probes += draw(st.lists(hours, max_size=5))
    return versions, contract, draw(st.permutations(probes))


@settings(max_examples=300, deadline=None)
@given(setups())
def test_memoized_choice_is_the_pure_choice(setup):
    versions, contract, probes = setup
    step = ResolveStep()
    step.versions = {1: versions}
    step._choices = {}
    for at in probes:  # in any order: the memo fills as it goes
        expected = version_for_contract_at(versions, contract.facts, at)
        assert step._version_at(contract, at) is expected, at


values = st.none() | st.text(max_size=130) | st.integers() | st.booleans() | st.just({"a": 1}) | st.just([1])


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.none(), st.text(max_size=3), st.dictionaries(st.sampled_from(["user", "agent", "team", "x"]), values))
)
def test_attribution_of_all_three_is_each_one(attributes):
    assert _attrs(attributes) == (_attr(attributes, "user"), _attr(attributes, "agent"), _attr(attributes, "team"))
