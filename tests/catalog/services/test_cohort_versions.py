"""A version's cohort is part of what finance approves: set on drafts only, covered by the content hash (and the
simulation's pricing hash), shown in the diff; whoever sets it may not decide on the version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.catalog import review, selectors, services
from apps.catalog.cohorts import Cohort
from apps.core.actors import Actor
from apps.core.errors import Conflict, Forbidden, FourEyesViolation, ValidationFailed
from apps.core.roles import Role
from tests.catalog.factories import MeterFactory, RateTableFactory
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(actors):
    table, meter = RateTableFactory(), MeterFactory()
    version = services.rate_table_version_create_draft(rate_table_id=table.id, actor=actors["owner"])
    services.rate_add(version_id=version.id, meter_id=meter.id, unit_price="1", actor=actors["owner"])
    return version


def _submit(version, actor, days=2):
    return services.rate_table_version_submit(
        version_id=version.id, effective_from=timezone.now() + timedelta(days=days), reason="rollout", actor=actor
    )


def test_cohort_is_in_the_content_hash_and_the_pricing_hash(draft, actors):
    pricing_all = selectors.version_pricing_hash(version_id=draft.id)
    hash_all = services.version_content_hash(draft)
    services.rate_table_version_set_cohort(version_id=draft.id, cohort=Cohort.NEW_CONTRACTS, actor=actors["owner"])
    draft.refresh_from_db()
    assert services.version_content_hash(draft) != hash_all
    assert selectors.version_pricing_hash(version_id=draft.id) != pricing_all
    pricing_new = selectors.version_pricing_hash(version_id=draft.id)
    services.rate_table_version_set_cohort(
        version_id=draft.id,
        cohort=Cohort.NEW_CONTRACTS,
        grandfather_until=datetime(2030, 1, 1, tzinfo=UTC),
        actor=actors["owner"],
    )
    assert selectors.version_pricing_hash(version_id=draft.id) != pricing_new
    # back to the default: the hashes of versions made before cohorts existed are unchanged
    services.rate_table_version_set_cohort(version_id=draft.id, cohort=Cohort.ALL, actor=actors["owner"])
    draft.refresh_from_db()
    assert services.version_content_hash(draft) == hash_all
    assert selectors.version_pricing_hash(version_id=draft.id) == pricing_all


def test_approval_binds_to_the_cohort_submitted(draft, actors):
    services.rate_table_version_set_cohort(
        version_id=draft.id, cohort=Cohort.CHOSEN, segments=["enterprise"], actor=actors["owner"]
    )
    pending = _submit(draft, actors["owner"])
    # a cohort changed behind the workflow's back (not through the services) no longer matches the approved hash
    type(pending).objects.filter(pk=pending.pk).update(cohort=Cohort.ALL, cohort_segments=[])
    with pytest.raises(Conflict):
        services.rate_table_version_approve(
            version_id=pending.id, content_hash=pending.content_hash, actor=actors["finance"]
        )


def test_whoever_sets_the_cohort_cannot_decide(draft, actors):
    services.rate_table_version_set_cohort(version_id=draft.id, cohort=Cohort.NEW_CONTRACTS, actor=actors["owner2"])
    pending = _submit(draft, actors["owner"])
    assert actors["owner2"].user.pk in selectors.version_contributor_ids(pending)
    approved = services.rate_table_version_approve(
        version_id=pending.id, content_hash=pending.content_hash, actor=actors["finance"]
    )
    assert approved.cohort == Cohort.NEW_CONTRACTS


def test_finance_cannot_set_a_cohort_and_a_maker_with_both_roles_who_set_it_cannot_approve(draft, actors):
    with pytest.raises(Forbidden):  # finance holds no catalog edit capability
        services.rate_table_version_set_cohort(
            version_id=draft.id, cohort=Cohort.NEW_CONTRACTS, actor=actors["finance"]
        )
    both = Actor(user=make_user("both", Role.MONETIZATION_OWNER, Role.FINANCE_APPROVER))
    services.rate_table_version_set_cohort(version_id=draft.id, cohort=Cohort.NEW_CONTRACTS, actor=both)
    pending = _submit(draft, actors["owner"])
    with pytest.raises(FourEyesViolation):
        services.rate_table_version_approve(version_id=pending.id, content_hash=pending.content_hash, actor=both)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cohort": "everyone"}, "cohort"),
        ({"cohort": Cohort.CHOSEN}, "cohort_customers"),
        ({"cohort": Cohort.CHOSEN, "customers": ["no spaces allowed"]}, "cohort_customers"),
        ({"cohort": Cohort.NEW_CONTRACTS, "grandfather_until": datetime(2030, 1, 1)}, "grandfather_until"),
    ],
)
def test_bad_cohorts_are_refused_with_the_field(draft, actors, kwargs, field):
    with pytest.raises(ValidationFailed) as exc:
        services.rate_table_version_set_cohort(version_id=draft.id, actor=actors["owner"], **kwargs)
    assert exc.value.field == field


def test_grandfathering_must_end_after_the_effective_date(draft, actors):
    services.rate_table_version_set_cohort(
        version_id=draft.id,
        cohort=Cohort.NEW_CONTRACTS,
        grandfather_until=timezone.now() + timedelta(days=1),
        actor=actors["owner"],
    )
    with pytest.raises(ValidationFailed) as exc:
        _submit(draft, actors["owner"], days=2)
    assert exc.value.code == "grandfather_before_effective"


def test_all_contracts_clears_chosen_lists_and_the_diff_shows_the_cohort_change(draft, actors):
    table_id = draft.rate_table_id
    pending = _submit(draft, actors["owner"])
    services.rate_table_version_approve(
        version_id=pending.id, content_hash=pending.content_hash, actor=actors["finance"]
    )
    nxt = services.rate_table_version_create_draft(rate_table_id=table_id, actor=actors["owner"])
    assert nxt.cohort == Cohort.ALL  # a new draft starts applying to everyone
    services.rate_table_version_set_cohort(
        version_id=nxt.id, cohort=Cohort.CHOSEN, customers=["acme", "acme", " beta "], actor=actors["owner"]
    )
    nxt.refresh_from_db()
    assert nxt.cohort_customers == ["acme", "beta"]
    diff = review.version_diff(version_id=nxt.id)
    assert diff["cohort"].changed
    assert diff["cohort"].old == "all contracts" and "acme, beta" in diff["cohort"].new
    services.rate_table_version_set_cohort(
        version_id=nxt.id, cohort=Cohort.ALL, customers=["acme"], segments=["smb"], actor=actors["owner"]
    )
    nxt.refresh_from_db()
    assert (nxt.cohort_customers, nxt.cohort_segments, nxt.grandfather_until) == ([], [], None)
    assert not review.version_diff(version_id=nxt.id)["cohort"].changed
