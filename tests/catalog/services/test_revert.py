"""Rollback: "Revert to vN" creates a draft copying an earlier approved version, reviewed like any price change
(four-eyes), and nothing approved is edited in place."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.catalog import services
from apps.catalog.models import ApprovalDecision, RateTableVersion, VersionStatus
from apps.catalog.selectors import version_rates_canonical
from apps.core.actors import Actor
from apps.core.errors import Conflict, Forbidden, FourEyesViolation, InvalidTransition
from apps.core.roles import Role
from tests.catalog.factories import MeterFactory, RateTableFactory, add_cost, approved_version
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(actors):
    meter = MeterFactory(code="tok.revert", unit="token")
    add_cost(meter, "0.01")
    table = RateTableFactory(code="revert-usd")
    v1 = approved_version(
        table,
        {meter: "0.15"},
        maker=actors["owner"],
        checker=actors["finance"],
        effective_from=timezone.now() - timedelta(days=20),
    )
    v2 = approved_version(
        table,
        {meter: "0.25"},
        maker=actors["owner"],
        checker=actors["finance"],
        effective_from=timezone.now() - timedelta(days=5),
    )
    return table, meter, v1, v2


def test_revert_goes_through_four_eyes_and_copies_the_old_prices(history, actors):
    table, meter, v1, v2 = history
    before = {v.pk: (v.status, v.effective_from, v.content_hash) for v in RateTableVersion.objects.all()}
    both = Actor(user=make_user("both", Role.MONETIZATION_OWNER, Role.FINANCE_APPROVER))
    draft = services.rate_table_version_revert(version_id=v1.pk, actor=both)
    assert draft.status == VersionStatus.DRAFT and draft.reverts_to_id == v1.pk and draft.based_on_id == v1.pk
    assert draft.reason == f"Revert to v{v1.number}" and draft.number == v2.number + 1
    assert version_rates_canonical(version_id=draft.pk) == version_rates_canonical(version_id=v1.pk)
    assert ApprovalDecision.objects.filter(version=draft, action="create", comment=f"Revert to v{v1.number}").exists()
    # Nothing approved changed.
    assert {
        v.pk: (v.status, v.effective_from, v.content_hash) for v in RateTableVersion.objects.exclude(pk=draft.pk)
    } == before

    submitted = services.rate_table_version_submit(
        version_id=draft.pk,
        effective_from=timezone.now() + timedelta(days=1),
        reason=draft.reason,
        actor=both,
    )
    for maker_or_other in (both, actors["owner"], actors["am"]):  # the maker (even with finance's role), non-finance
        with pytest.raises(Forbidden) as refused:
            services.rate_table_version_approve(
                version_id=draft.pk, content_hash=submitted.content_hash, actor=maker_or_other
            )
        assert isinstance(refused.value, FourEyesViolation) is (maker_or_other is both)
    approved = services.rate_table_version_approve(
        version_id=draft.pk, content_hash=submitted.content_hash, actor=actors["finance"]
    )
    assert approved.status == VersionStatus.APPROVED


def test_revert_refusals(history, actors):
    table, meter, v1, v2 = history
    with pytest.raises(Forbidden):
        services.rate_table_version_revert(version_id=v1.pk, actor=actors["finance"])
    draft = services.rate_table_version_revert(version_id=v1.pk, actor=actors["owner"])
    with pytest.raises(Conflict) as raised:
        services.rate_table_version_revert(version_id=v1.pk, actor=actors["owner"])
    assert raised.value.extra["version_id"] == draft.pk
    with pytest.raises(InvalidTransition):
        services.rate_table_version_revert(version_id=draft.pk, actor=actors["owner"])


def test_rate_table_page_offers_revert_and_review_page_says_so(history, actors, clients):
    table, meter, v1, v2 = history
    page = clients["owner"].get(f"/catalog/rate-tables/{table.code}/").content.decode()
    assert f"Revert to v{v1.number}" in page and f"Revert to v{v2.number}" not in page  # v2 is in force
    assert "Revert to" not in clients["am"].get(f"/catalog/rate-tables/{table.code}/").content.decode()
    assert clients["am"].post(f"/catalog/versions/{v1.pk}/revert/").status_code == 403
    response = clients["owner"].post(f"/catalog/versions/{v1.pk}/revert/")
    draft = RateTableVersion.objects.get(reverts_to=v1)
    assert response.status_code == 302 and response["Location"] == f"/catalog/versions/{draft.pk}/"
    editor = clients["owner"].get(response["Location"]).content.decode()
    assert 'id="revert-notice"' in editor and f"Revert to v{v1.number}" in editor  # reason prefilled
    assert 'id="simulation"' in editor  # the maker can simulate before submitting
    services.rate_table_version_submit(
        version_id=draft.pk,
        effective_from=timezone.now() + timedelta(days=1),
        reason=draft.reason,
        actor=actors["owner"],
    )
    review = clients["finance"].get(f"/catalog/reviews/{draft.pk}/").content.decode()
    assert 'id="revert-notice"' in review and f"v{v2.number}, the version in force" in review
    assert "0.25" in review and "0.15" in review  # the diff against the version in force
    assert 'id="simulation"' in review
