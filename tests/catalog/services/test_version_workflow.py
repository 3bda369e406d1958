from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.catalog import selectors, services
from apps.catalog.models import ApprovalDecision, RateTableVersion, VersionStatus
from apps.catalog.signals import rate_table_version_approved
from apps.core.actors import Actor
from apps.core.errors import Conflict, Forbidden, FourEyesViolation, InvalidTransition, ValidationFailed
from apps.core.roles import Role
from tests.catalog.factories import MeterFactory, RateTableFactory, approved_version
from tests.conftest import make_user

S = VersionStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def table():
    return RateTableFactory()


@pytest.fixture
def meter():
    return MeterFactory()


def draft_with_rate(table, meter, actor, price="1.5"):
    draft = services.rate_table_version_create_draft(rate_table_id=table.id, actor=actor)
    services.rate_add(version_id=draft.id, meter_id=meter.id, unit_price=price, actor=actor)
    return draft


def submit(draft, actor, days=1, **kw):
    return services.rate_table_version_submit(
        version_id=draft.id,
        effective_from=timezone.now() + timedelta(days=days),
        reason="Q1 price change",
        actor=actor,
        **kw,
    )


def test_full_happy_path_records_every_transition(table, meter, actors):
    draft = draft_with_rate(table, meter, actors["owner"])
    pending = submit(draft, actors["owner"])
    assert pending.status == S.PENDING_APPROVAL and len(pending.content_hash) == 64
    approved = services.rate_table_version_approve(
        version_id=pending.id, content_hash=pending.content_hash, actor=actors["finance"], comment="ok"
    )
    assert approved.status == S.APPROVED and approved.decided_by == actors["finance"].user
    actions = list(ApprovalDecision.objects.filter(version=approved).values_list("action", "actor__username"))
    assert actions == [("create", "owner"), ("submit", "owner"), ("approve", "finance")]


def test_maker_can_never_approve_even_holding_finance_role(table, meter):
    both = make_user("both", Role.MONETIZATION_OWNER, Role.FINANCE_APPROVER)
    actor = Actor(user=both)
    pending = submit(draft_with_rate(table, meter, actor), actor)
    for call in (
        lambda: services.rate_table_version_approve(
            version_id=pending.id, content_hash=pending.content_hash, actor=actor
        ),
        lambda: services.rate_table_version_reject(version_id=pending.id, comment="no", actor=actor),
        lambda: services.rate_table_version_request_changes(version_id=pending.id, comment="no", actor=actor),
    ):
        with pytest.raises(FourEyesViolation):
            call()
    assert RateTableVersion.objects.get(pk=pending.pk).status == S.PENDING_APPROVAL


def test_draft_creator_cannot_approve_what_a_colleague_submitted(table, meter, actors):
    both = make_user("both", Role.MONETIZATION_OWNER, Role.FINANCE_APPROVER)
    draft = draft_with_rate(table, meter, Actor(user=both))
    pending = submit(draft, actors["owner"])
    with pytest.raises(FourEyesViolation):
        services.rate_table_version_approve(
            version_id=pending.id, content_hash=pending.content_hash, actor=Actor(user=both)
        )


def test_only_finance_reviews(table, meter, actors):
    pending = submit(draft_with_rate(table, meter, actors["owner"]), actors["owner"])
    for name in ("owner2", "am", "support", "admin"):
        with pytest.raises(Forbidden):
            services.rate_table_version_approve(
                version_id=pending.id, content_hash=pending.content_hash, actor=actors[name]
            )


def test_only_catalog_editors_make_drafts(table, actors):
    for name in ("finance", "am", "support", "admin"):
        with pytest.raises(Forbidden):
            services.rate_table_version_create_draft(rate_table_id=table.id, actor=actors[name])


def test_submitted_content_is_frozen(table, meter, actors):
    draft = draft_with_rate(table, meter, actors["owner"])
    rate = draft.rates.get()
    pending = submit(draft, actors["owner"])
    with pytest.raises(InvalidTransition):
        services.rate_update_field(rate_id=rate.id, field="unit_price", value="9", actor=actors["owner"])
    with pytest.raises(InvalidTransition):
        services.rate_add(version_id=pending.id, meter_id=MeterFactory().id, actor=actors["owner"])
    with pytest.raises(InvalidTransition):
        services.rate_remove(rate_id=rate.id, actor=actors["owner"])
    with pytest.raises(InvalidTransition):
        services.rate_tiers_set(rate_id=rate.id, tiers=[], actor=actors["owner"])
    approved = services.rate_table_version_approve(
        version_id=pending.id, content_hash=pending.content_hash, actor=actors["finance"]
    )
    with pytest.raises(InvalidTransition):
        services.rate_update_field(rate_id=rate.id, field="unit_price", value="9", actor=actors["owner"])
    assert approved.rates.get().unit_price == Decimal("1.5")


def test_approval_binds_to_content_hash(table, meter, actors):
    pending = submit(draft_with_rate(table, meter, actors["owner"]), actors["owner"])
    with pytest.raises(Conflict):
        services.rate_table_version_approve(version_id=pending.id, content_hash="0" * 64, actor=actors["finance"])
    # Content altered behind the workflow's back (e.g. a direct DB write) is caught too.
    pending.rates.update(unit_price=Decimal("0.01"))
    with pytest.raises(Conflict):
        services.rate_table_version_approve(
            version_id=pending.id, content_hash=pending.content_hash, actor=actors["finance"]
        )


def test_withdraw_then_edit_then_resubmit(table, meter, actors):
    draft = draft_with_rate(table, meter, actors["owner"])
    pending = submit(draft, actors["owner"])
    back = services.rate_table_version_withdraw(version_id=pending.id, actor=actors["owner"])
    assert back.status == S.DRAFT and back.content_hash == ""
    services.rate_update_field(rate_id=draft.rates.get().id, field="unit_price", value="2", actor=actors["owner"])
    again = submit(back, actors["owner"])
    assert again.status == S.PENDING_APPROVAL and again.content_hash != pending.content_hash


def test_request_changes_needs_comment_then_maker_edits_and_resubmits(table, meter, actors):
    pending = submit(draft_with_rate(table, meter, actors["owner"]), actors["owner"])
    with pytest.raises(ValidationFailed):
        services.rate_table_version_request_changes(version_id=pending.id, comment="  ", actor=actors["finance"])
    changes = services.rate_table_version_request_changes(
        version_id=pending.id, comment="Too cheap", actor=actors["finance"]
    )
    assert changes.status == S.CHANGES_REQUESTED
    services.rate_update_field(rate_id=changes.rates.get().id, field="unit_price", value="3", actor=actors["owner"])
    assert submit(changes, actors["owner"]).status == S.PENDING_APPROVAL


def test_reject_needs_comment_and_is_final(table, meter, actors):
    pending = submit(draft_with_rate(table, meter, actors["owner"]), actors["owner"])
    with pytest.raises(ValidationFailed):
        services.rate_table_version_reject(version_id=pending.id, comment="", actor=actors["finance"])
    rejected = services.rate_table_version_reject(version_id=pending.id, comment="Not now", actor=actors["finance"])
    assert rejected.status == S.REJECTED
    with pytest.raises(InvalidTransition):
        submit(rejected, actors["owner"])
    with pytest.raises(InvalidTransition):
        services.rate_table_version_withdraw(version_id=rejected.id, actor=actors["owner"])


@pytest.mark.parametrize("status", [S.APPROVED, S.REJECTED, S.DISCARDED, S.PENDING_APPROVAL])
def test_forbidden_transitions(table, meter, actors, status):
    draft = draft_with_rate(table, meter, actors["owner"])
    pending = submit(draft, actors["owner"])
    if status == S.APPROVED:
        services.rate_table_version_approve(
            version_id=pending.id, content_hash=pending.content_hash, actor=actors["finance"]
        )
    elif status == S.REJECTED:
        services.rate_table_version_reject(version_id=pending.id, comment="x", actor=actors["finance"])
    elif status == S.DISCARDED:
        services.rate_table_version_withdraw(version_id=pending.id, actor=actors["owner"])
        services.rate_table_version_discard(version_id=pending.id, actor=actors["owner"])
    version = RateTableVersion.objects.get(pk=pending.pk)
    assert version.status == status
    with pytest.raises(InvalidTransition):
        services.rate_table_version_discard(version_id=version.id, actor=actors["owner"])
    with pytest.raises(InvalidTransition):
        submit(version, actors["owner"])
    if status != S.PENDING_APPROVAL:
        with pytest.raises(InvalidTransition):
            services.rate_table_version_approve(
                version_id=version.id, content_hash=version.content_hash, actor=actors["finance"]
            )
        with pytest.raises(InvalidTransition):
            services.rate_table_version_withdraw(version_id=version.id, actor=actors["owner"])


def test_only_one_open_version_per_table(table, meter, actors):
    draft_with_rate(table, meter, actors["owner"])
    with pytest.raises(Conflict):
        services.rate_table_version_create_draft(rate_table_id=table.id, actor=actors["owner2"])


def test_new_draft_copies_active_version_with_tiers(table, meter, actors):
    approved_version(
        table,
        {meter: "2"},
        maker=actors["owner"],
        checker=actors["finance"],
        effective_from=timezone.now() - timedelta(days=3),
    )
    rate = RateTableVersion.objects.get(rate_table=table, status=S.APPROVED).rates.get()
    tiers = services.parse_tiers([{"up_to": "100", "unit_price": "2"}, {"up_to": "", "unit_price": "1"}])
    # Tiers on the approved version can only be set through a draft: create one, tier it, approve it.
    draft = services.rate_table_version_create_draft(rate_table_id=table.id, actor=actors["owner"])
    copied = draft.rates.get()
    assert (copied.meter_id, copied.unit_price) == (rate.meter_id, rate.unit_price)
    services.rate_update_field(rate_id=copied.id, field="pricing_model", value="graduated", actor=actors["owner"])
    services.rate_tiers_set(rate_id=copied.id, tiers=tiers, actor=actors["owner"])
    assert [t.up_to for t in copied.tiers.all()] == [Decimal(100), None]


def test_submit_validation(table, meter, actors):
    empty = services.rate_table_version_create_draft(rate_table_id=table.id, actor=actors["owner"])
    with pytest.raises(ValidationFailed, match="at least one rate"):
        submit(empty, actors["owner"])
    services.rate_add(version_id=empty.id, meter_id=meter.id, unit_price="1", actor=actors["owner"])
    with pytest.raises(ValidationFailed, match="reason"):
        services.rate_table_version_submit(
            version_id=empty.id, effective_from=timezone.now() + timedelta(days=1), reason="", actor=actors["owner"]
        )
    with pytest.raises(ValidationFailed, match="backdating reason") as exc:
        submit(empty, actors["owner"], days=-2)
    assert exc.value.field == "backdate_reason"
    backdated = submit(empty, actors["owner"], days=-2, backdate_reason="Provider cut prices on the 1st")
    assert backdated.backdate_reason == "Provider cut prices on the 1st"


@pytest.mark.parametrize(
    "field,value",
    [
        ("unit_price", "-1"),
        ("unit_price", "abc"),
        ("unit_price", "nan"),
        ("price_per_units", "0"),
        ("pricing_model", "magic"),
        ("unit_price", "0.0000000000001"),
    ],
)
def test_cell_validation(table, meter, actors, field, value):
    draft = draft_with_rate(table, meter, actors["owner"])
    with pytest.raises(ValidationFailed):
        services.rate_update_field(rate_id=draft.rates.get().id, field=field, value=value, actor=actors["owner"])


def test_two_approved_versions_cannot_share_effective_from(table, meter, actors):
    instant = timezone.now() + timedelta(days=5)
    approved_version(table, {meter: "1"}, maker=actors["owner"], checker=actors["finance"], effective_from=instant)
    draft = services.rate_table_version_create_draft(rate_table_id=table.id, actor=actors["owner"])
    with pytest.raises(ValidationFailed, match="already approved"):
        services.rate_table_version_submit(
            version_id=draft.id, effective_from=instant, reason="x", actor=actors["owner"]
        )


def test_version_in_force_is_exact_at_the_boundary(table, meter, actors):
    t1 = timezone.now() - timedelta(days=10)
    t2 = timezone.now() + timedelta(days=10)
    v1 = approved_version(table, {meter: "1"}, maker=actors["owner"], checker=actors["finance"], effective_from=t1)
    v2 = approved_version(table, {meter: "2"}, maker=actors["owner"], checker=actors["finance"], effective_from=t2)
    tick = timedelta(microseconds=1)
    assert selectors.rate_table_version_in_force(rate_table_id=table.id, at=t1 - tick) is None
    assert selectors.rate_table_version_in_force(rate_table_id=table.id, at=t1).id == v1.id
    assert selectors.rate_table_version_in_force(rate_table_id=table.id, at=t2 - tick).id == v1.id
    in_force = selectors.rate_table_version_in_force(rate_table_id=table.id, at=t2)
    assert in_force.id == v2.id and in_force.rates[meter.id].unit_price == Decimal(2)
    versions = selectors.rate_table_versions_approved(rate_table_ids=[table.id])[table.id]
    assert selectors.version_for_instant(versions, t2 - tick).id == v1.id
    assert selectors.version_for_instant(versions, t2).id == v2.id
    # Display status: v1 active now, v2 scheduled; after t2, v1 superseded.
    rows = {r["version"].id: r["status"] for r in selectors.rate_table_versions(rate_table_id=table.id)}
    assert rows == {v1.id: "active", v2.id: "scheduled"}
    later = {r["version"].id: r["status"] for r in selectors.rate_table_versions(rate_table_id=table.id, now=t2)}
    assert later == {v1.id: "superseded", v2.id: "active"}


def test_approval_signal_says_whether_backdated(table, meter, actors, django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    rate_table_version_approved.connect(receiver)
    try:
        draft = draft_with_rate(table, meter, actors["owner"])
        pending = submit(draft, actors["owner"], days=-1, backdate_reason="Contract signed last week")
        with django_capture_on_commit_callbacks(execute=True):
            services.rate_table_version_approve(
                version_id=pending.id, content_hash=pending.content_hash, actor=actors["finance"]
            )
    finally:
        rate_table_version_approved.disconnect(receiver)
    assert received and received[0]["backdated"] is True and received[0]["version_id"] == pending.id
