"""Staged rollout and price protection in rating, re-rating, entitlements and "why this charge": the version that
prices an event is the one apps.catalog.cohorts picks for the event's contract at its timestamp."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.catalog import services as catalog
from apps.catalog.cohorts import Cohort, Rule
from apps.contracts import services as contracts
from apps.contracts.models import Contract
from apps.core.actors import SYSTEM
from apps.usage.models import RatedUsage, UsageEvent
from apps.usage.selectors import charge_explanation, entitlement
from apps.usage.services import usage_rerate, usage_rerate_after_approval
from tests.usage.builders import D, ago, ingest, rate

pytestmark = pytest.mark.django_db


def priced(customer) -> list[tuple[int, object]]:
    """(version number, amount) of the customer's current records, by timestamp."""
    return [
        (r.rate_version.number, r.amount)
        for r in RatedUsage.objects.filter(customer=customer, superseded_at__isnull=True)
        .select_related("rate_version")
        .order_by("timestamp")
    ]


def _event(world, customer, meter, quantity, ts):
    ingest([world.event(customer, meter, quantity, ts)])
    return UsageEvent.objects.filter(customer=customer).order_by("-id").first()


def test_new_customers_first_keeps_existing_contracts_on_the_old_version(world):
    meter = world.meter("tokens")
    table = world.table()
    world.version(table, {meter: "1"}, effective_from=ago(days=60))
    old = world.customer("old", table)  # contract since 2020
    world.version(table, {meter: "2"}, effective_from=ago(days=10), cohort=Cohort.NEW_CONTRACTS)
    new = world.customer("newco", table, starts_at=ago(days=5))
    ingest(
        [
            world.event(old, meter, 10, ago(days=20)),
            world.event(old, meter, 10, ago(hours=1)),
            world.event(new, meter, 10, ago(hours=1)),
        ]
    )
    rate()
    assert priced(old) == [(1, D(10)), (1, D(10))]
    assert priced(new) == [(2, D(20))]


def test_chosen_segment_moves_at_once_and_the_others_when_grandfathering_ends(world):
    meter = world.meter("tokens")
    table = world.table()
    world.version(table, {meter: "1"}, effective_from=ago(days=60))
    small = world.customer("small", table, segment="smb")
    big = world.customer("big", table, segment="enterprise")
    chosen = world.customer("chosen", table, segment="smb")
    world.version(
        table,
        {meter: "3"},
        effective_from=ago(days=10),
        cohort=Cohort.CHOSEN,
        cohort_customers=["chosen"],
        cohort_segments=["enterprise"],
        grandfather_until=ago(days=3),
    )
    ingest([world.event(c, meter, 1, ts) for c in (small, big, chosen) for ts in (ago(days=5), ago(days=1))])
    rate()
    assert [n for n, _ in priced(small)] == [1, 2]  # grandfathered, then grandfathering ended
    assert [n for n, _ in priced(big)] == [2, 2]
    assert [n for n, _ in priced(chosen)] == [2, 2]


def test_price_protection_prices_by_the_named_version_until_its_date(world):
    meter = world.meter("tokens")
    table = world.table()
    v1 = world.version(table, {meter: "1"}, effective_from=ago(days=60))
    protected = world.customer("protected", table, protected_version=v1, protected_until=ago(days=2))
    plain = world.customer("plain", table)
    world.version(table, {meter: "5"}, effective_from=ago(days=10))
    ingest([world.event(c, meter, 2, ts) for c in (protected, plain) for ts in (ago(days=5), ago(days=1))])
    rate()
    assert priced(protected) == [(1, D(2)), (2, D(10))]
    assert priced(plain) == [(2, D(10)), (2, D(10))]


def test_rerating_honours_cohorts_and_applies_a_protection_added_later(world):
    meter = world.meter("tokens")
    table = world.table()
    v1 = world.version(table, {meter: "1"}, effective_from=ago(days=60))
    old = world.customer("old", table)
    new = world.customer("newco", table, starts_at=ago(days=8))
    ingest([world.event(c, meter, 4, ago(days=2)) for c in (old, new)])
    rate()
    assert priced(old) == [(1, D(4))] and priced(new) == [(1, D(4))]

    # a backdated version for new contracts only: re-rating moves the new customer, not the old one
    world.version(table, {meter: "2"}, effective_from=ago(days=9), backdated=True, cohort=Cohort.NEW_CONTRACTS)
    usage_rerate(start=ago(days=9), end=timezone.now(), actor=SYSTEM, reason="cohort test")
    assert priced(old) == [(1, D(4))]
    assert priced(new) == [(2, D(8))]

    # protecting the new customer's contract by v1 and re-rating brings it back to v1
    contract = Contract.objects.get(customer=new)
    contracts.contract_update(
        contract_id=contract.pk,
        protected_version_id=v1.id,
        protected_until=timezone.now() + timedelta(days=30),
        actor=world.finance,
        change_reason="price protection for the renewal talks",
    )
    usage_rerate(start=ago(days=9), end=timezone.now(), actor=SYSTEM, reason="protection")
    assert priced(new) == [(1, D(4))]


def test_why_this_charge_names_the_rule_and_flags_a_rule_that_changed_since(world, clients):
    meter = world.meter("tokens")
    table = world.table()
    v1 = world.version(table, {meter: "1"}, effective_from=ago(days=60))
    old = world.customer("old", table)
    world.version(table, {meter: "2"}, effective_from=ago(days=10), cohort=Cohort.NEW_CONTRACTS)
    event = _event(world, old, meter, 3, ago(hours=2))
    rate()
    why = charge_explanation(event_pk=event.pk)
    assert why["version"].pk == v1.pk
    assert why["version_rule"]["rule"] == Rule.GRANDFATHERED and not why["version_rule"]["stale"]
    assert "v2" in why["version_rule"]["explanation"]
    page = clients["am"].get(reverse("usage:event-why", args=[event.pk])).content.decode()
    assert 'data-rule="grandfathered"' in page and "grandfathered: the contract started before v2" in page

    contract = Contract.objects.get(customer=old)
    v3 = world.version(table, {meter: "4"}, effective_from=ago(days=5), backdated=True)
    contracts.contract_update(
        contract_id=contract.pk,
        protected_version_id=v3.id,
        protected_until=timezone.now() + timedelta(days=1),
        actor=world.finance,
        change_reason="protect",
    )
    why = charge_explanation(event_pk=event.pk)
    assert why["version_rule"]["rule"] == Rule.PROTECTED
    assert why["version_rule"]["stale"]  # priced by v1; a re-rate would apply v3
    page = clients["am"].get(reverse("usage:event-why", args=[event.pk])).content.decode()
    assert "price protection: v3" in page and "re-rate the range to apply it" in page


def test_entitlement_uses_the_contracts_version(world):
    tokens, images = world.meter("tokens"), world.meter("images", unit="image")
    table = world.table()
    world.version(table, {tokens: "1"}, effective_from=ago(days=60))
    old = world.customer("old", table)
    world.version(table, {tokens: "1", images: "2"}, effective_from=ago(days=10), cohort=Cohort.NEW_CONTRACTS)
    new = world.customer("newco", table, starts_at=ago(days=1))
    assert entitlement(customer_id=old.pk, meter_id=images.id).reason == "not_in_rate_table"
    assert entitlement(customer_id=new.pk, meter_id=images.id).allowed


def test_a_pending_cohort_change_is_refused_once_submitted(world):
    meter = world.meter("tokens")
    table = world.table()
    world.version(table, {meter: "1"}, effective_from=ago(days=60))
    draft = catalog.rate_table_version_create_draft(rate_table_id=table.id, actor=world.owner)
    catalog.rate_table_version_submit(
        version_id=draft.id, effective_from=timezone.now() + timedelta(days=3), reason="up", actor=world.owner
    )
    from apps.core.errors import InvalidTransition

    with pytest.raises(InvalidTransition):
        catalog.rate_table_version_set_cohort(version_id=draft.id, cohort=Cohort.NEW_CONTRACTS, actor=world.owner)


def test_rerate_after_a_backdated_approval_runs_past_a_later_version_limited_to_a_cohort(world):
    meter = world.meter("tokens")
    table = world.table()
    world.version(table, {meter: "1"}, effective_from=ago(days=60))
    # a billing period starts between the two events, so re-rating the first one's period leaves the second alone
    old = world.customer("old", table, anchor_day=ago(days=3).day)
    ingest([world.event(old, meter, 1, ts) for ts in (ago(days=8), ago(days=2))])
    rate()
    world.version(table, {meter: "2"}, effective_from=ago(days=5), backdated=True, cohort=Cohort.NEW_CONTRACTS)
    v3 = world.version(table, {meter: "3"}, effective_from=ago(days=10), backdated=True)
    usage_rerate_after_approval(version_id=v3.id, rate_table_id=table.id, effective_from=v3.effective_from)
    # the old contract is outside v2's cohort, so v3 prices it after v2 took effect too
    assert [n for n, _ in priced(old)] == [v3.number, v3.number]
