"""Issue 9 items 1 and 2: a new draft starts from the newest approved version (scheduled ones included), and
whoever changed a version's content may not decide on it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.catalog import review, services
from apps.catalog.models import ApprovalDecision, RateTableVersion, VersionStatus
from apps.core.actors import Actor
from apps.core.errors import FourEyesViolation
from apps.core.roles import Role
from tests.catalog.factories import MeterFactory, RateTableFactory, approved_version
from tests.conftest import make_user

S = VersionStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def scheduled_table(actors):
    """v1 in force since yesterday, v2 approved and scheduled ten days ahead with other prices."""
    table, meter = RateTableFactory(), MeterFactory()
    now = timezone.now()
    v1 = approved_version(
        table, {meter: "1.00"}, maker=actors["owner"], checker=actors["finance"], effective_from=now - timedelta(days=1)
    )
    v2 = approved_version(
        table,
        {meter: "2.00"},
        maker=actors["owner"],
        checker=actors["finance"],
        effective_from=now + timedelta(days=10),
    )
    return table, meter, v1, v2


def test_new_draft_copies_the_scheduled_version_not_the_active_one(scheduled_table, actors):
    table, meter, v1, v2 = scheduled_table
    draft = services.rate_table_version_create_draft(rate_table_id=table.id, actor=actors["owner2"])
    assert draft.based_on_id == v2.id
    assert draft.rates.get().unit_price == Decimal("2.00")
    created = ApprovalDecision.objects.get(version=draft, action="create")
    assert created.comment == f"Copied from v{v2.number}"
    diff = review.version_diff(version_id=draft.id)
    assert diff["base"].id == v2.id
    assert [r.change for r in diff["rows"]] == ["unchanged"]


def test_timeline_warns_when_a_scheduled_version_will_replace_the_new_one(scheduled_table, actors):
    table, meter, v1, v2 = scheduled_table
    draft = services.rate_table_version_create_draft(rate_table_id=table.id, actor=actors["owner2"])
    services.rate_update_field(rate_id=draft.rates.get().id, field="unit_price", value="3", actor=actors["owner2"])
    pending = services.rate_table_version_submit(
        version_id=draft.id, effective_from=timezone.now() + timedelta(days=3), reason="promo", actor=actors["owner2"]
    )
    timeline = review.version_timeline(version_id=pending.id)
    assert timeline["in_force"].id == v1.id and timeline["replaced_by"].id == v2.id
    assert [(e.version.id, e.role) for e in timeline["entries"]] == [
        (v1.id, "in_force"),
        (pending.id, "this"),
        (v2.id, "replaces_this"),
    ]
    assert review.version_diff(version_id=pending.id)["base"].id == v1.id

    page = _finance_client(actors).get(f"/catalog/reviews/{pending.id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="version-timeline"' in html
    assert f"v{v2.number} is already approved from" in html and "will replace this version" in html


def test_timeline_without_a_later_version_has_no_warning(scheduled_table, actors):
    table, meter, v1, v2 = scheduled_table
    draft = services.rate_table_version_create_draft(rate_table_id=table.id, actor=actors["owner2"])
    pending = services.rate_table_version_submit(
        version_id=draft.id, effective_from=timezone.now() + timedelta(days=20), reason="later", actor=actors["owner2"]
    )
    timeline = review.version_timeline(version_id=pending.id)
    assert timeline["in_force"].id == v2.id and timeline["replaced_by"] is None
    html = _finance_client(actors).get(f"/catalog/reviews/{pending.id}/").content.decode()
    assert 'id="version-timeline"' in html and "will replace this version" not in html


def _finance_client(actors):
    from django.test import Client

    client = Client()
    client.force_login(actors["finance"].user)
    return client


def test_editor_of_someone_elses_version_cannot_decide_on_it(actors):
    """The exact path from issue 9: a user holding both roles withdraws someone else's pending version,
    edits a price, the maker resubmits, and the editor tries to approve: refused."""
    table, meter = RateTableFactory(), MeterFactory()
    both = Actor(user=make_user("both", Role.MONETIZATION_OWNER, Role.FINANCE_APPROVER))
    maker = actors["owner"]
    draft = services.rate_table_version_create_draft(rate_table_id=table.id, actor=maker)
    services.rate_add(version_id=draft.id, meter_id=meter.id, unit_price="1.5", actor=maker)
    when = timezone.now() + timedelta(days=2)
    pending = services.rate_table_version_submit(version_id=draft.id, effective_from=when, reason="r", actor=maker)

    services.rate_table_version_withdraw(version_id=pending.id, actor=both)
    services.rate_update_field(rate_id=pending.rates.get().id, field="unit_price", value="0.5", actor=both)
    again = services.rate_table_version_submit(version_id=pending.id, effective_from=when, reason="r", actor=maker)
    for call in (
        lambda: services.rate_table_version_approve(version_id=again.id, content_hash=again.content_hash, actor=both),
        lambda: services.rate_table_version_reject(version_id=again.id, comment="no", actor=both),
        lambda: services.rate_table_version_request_changes(version_id=again.id, comment="no", actor=both),
    ):
        with pytest.raises(FourEyesViolation):
            call()
    assert RateTableVersion.objects.get(pk=again.pk).status == S.PENDING_APPROVAL
    # Someone who never touched it may decide.
    services.rate_table_version_approve(version_id=again.id, content_hash=again.content_hash, actor=actors["finance"])


@pytest.mark.parametrize("edit", ["tiers", "add", "remove"])
def test_every_kind_of_content_edit_excludes_the_editor(actors, edit):
    table, meter, other = RateTableFactory(), MeterFactory(), MeterFactory()
    both = Actor(user=make_user("both", Role.MONETIZATION_OWNER, Role.FINANCE_APPROVER))
    maker = actors["owner"]
    draft = services.rate_table_version_create_draft(rate_table_id=table.id, actor=maker)
    rate = services.rate_add(version_id=draft.id, meter_id=meter.id, unit_price="1", actor=maker)
    services.rate_add(version_id=draft.id, meter_id=other.id, unit_price="1", actor=maker)
    if edit == "tiers":
        services.rate_update_field(rate_id=rate.id, field="pricing_model", value="graduated", actor=maker)
        services.rate_tiers_set(
            rate_id=rate.id,
            tiers=services.parse_tiers([{"up_to": "10", "unit_price": "2"}, {"up_to": "", "unit_price": "1"}]),
            actor=both,
        )
    elif edit == "add":
        services.rate_add(version_id=draft.id, meter_id=MeterFactory().id, unit_price="1", actor=both)
    else:
        services.rate_remove(rate_id=rate.id, actor=both)
    pending = services.rate_table_version_submit(
        version_id=draft.id, effective_from=timezone.now() + timedelta(days=1), reason="r", actor=maker
    )
    with pytest.raises(FourEyesViolation):
        services.rate_table_version_approve(version_id=pending.id, content_hash=pending.content_hash, actor=both)
    html = _client_for(both.user).get(f"/catalog/reviews/{pending.id}/").content.decode()
    assert "You created, edited or submitted this change" in html


def _client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


# ---- property: whoever touched the content never decides -------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EDITS = ("price", "add", "remove", "tiers", "none")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(EDITS)), max_size=4))
def test_property_no_contributor_ever_decides(actors, steps):
    """Rounds of: someone holding both roles withdraws the pending version and maybe edits it, then the maker
    resubmits. Afterwards exactly the people who edited (and the maker) are refused; anyone else may decide."""
    table, meter = RateTableFactory(), MeterFactory()
    people = [
        Actor(user=make_user(f"both-{table.pk}-{i}", Role.MONETIZATION_OWNER, Role.FINANCE_APPROVER)) for i in range(3)
    ]
    maker = Actor(user=make_user(f"maker-{table.pk}", Role.MONETIZATION_OWNER, Role.FINANCE_APPROVER))
    draft = services.rate_table_version_create_draft(rate_table_id=table.id, actor=maker)
    services.rate_add(version_id=draft.id, meter_id=meter.id, unit_price="1", actor=maker)
    when = timezone.now() + timedelta(days=2)
    version = services.rate_table_version_submit(version_id=draft.id, effective_from=when, reason="r", actor=maker)
    edited: set[int] = set()
    for who, edit in steps:
        person = people[who]
        services.rate_table_version_withdraw(version_id=version.id, actor=person)
        rate = version.rates.order_by("id").first()
        if edit == "price":
            services.rate_update_field(rate_id=rate.id, field="unit_price", value="2", actor=person)
        elif edit == "add":
            services.rate_add(version_id=version.id, meter_id=MeterFactory().id, unit_price="1", actor=person)
        elif edit == "remove" and version.rates.count() > 1:
            services.rate_remove(rate_id=rate.id, actor=person)
        elif edit == "tiers":
            services.rate_update_field(rate_id=rate.id, field="pricing_model", value="graduated", actor=person)
        else:
            edit = "none"
        if edit != "none":
            edited.add(who)
        version = services.rate_table_version_submit(
            version_id=version.id, effective_from=when, reason="r", actor=maker
        )
    for who, person in enumerate(people):
        if who in edited:
            with pytest.raises(FourEyesViolation):
                services.rate_table_version_approve(
                    version_id=version.id, content_hash=version.content_hash, actor=person
                )
    with pytest.raises(FourEyesViolation):
        services.rate_table_version_request_changes(version_id=version.id, comment="c", actor=maker)
    free = [p for who, p in enumerate(people) if who not in edited]
    decider = free[0] if free else actors["finance"]
    approved = services.rate_table_version_approve(
        version_id=version.id, content_hash=version.content_hash, actor=decider
    )
    assert approved.status == S.APPROVED
