"""Issue 8.1: a contract's included credits per period are a grant of kind `included`, issued once per contract
period (beat task, or on demand when rating meets a period without one), free, drawn before every other grant,
expiring at the period's end; issue and expiry are ledger entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.contracts.selectors import contract_in_force
from apps.usage.models import RatedUsage
from apps.wallets.models import CreditGrant, LedgerEntry
from apps.wallets.selectors import wallet_conservation
from apps.wallets.services import included_credits_issue_due, wallet_expire_due
from tests.usage.builders import D, ago, ingest, per_grant, rate

pytestmark = pytest.mark.django_db


def _with_included(world, contract_kwargs, included):
    from apps.contracts import services as contracts

    meter = world.meter("llm.tokens")
    table = world.table(unit="credits")
    world.version(table, {meter: "1"}, effective_from=ago(days=90))
    customer = contracts.customer_create(external_id="acme", name="Acme", actor=world.owner)
    contracts.contract_create(
        customer_id=customer.pk,
        rate_table_id=table.id,
        starts_at=datetime(2020, 1, 1, tzinfo=UTC),
        billing_anchor_day=1,
        included_credits=D(included),
        actor=world.finance,
        **contract_kwargs,
    )
    return meter, customer


def test_included_credits_are_drawn_before_purchased_and_lapse_at_period_end(world):
    meter, acme = _with_included(world, {"billing_model": "prepaid", "enforcement": "hard"}, "25000")
    purchased = world.grant(acme, "600000", price_per_credit="0.01")
    terms = contract_in_force(customer_id=acme.pk, at=timezone.now())
    start, end = terms.period(timezone.now())
    t = max(start + timedelta(minutes=1), ago(hours=1))
    ingest([world.event(acme, meter, 518000, t, id="big")])
    rate()
    included = CreditGrant.objects.get(wallet__customer=acme, kind="included")
    assert (included.amount, included.price_per_credit, included.priority) == (D(25000), D(0), 0)
    assert (included.effective_at, included.expires_at) == (start, end)
    ledger, records = per_grant(acme)
    assert ledger == records == {included.pk: (D(25000), D(0)), purchased.pk: (D(493000), D("4930"))}
    record = RatedUsage.objects.get(customer=acme, superseded_at=None)
    assert not record.over_limit and record.credits_drawn == D(518000)
    # the beat task issues nothing twice
    included_credits_issue_due()
    included_credits_issue_due()
    assert CreditGrant.objects.filter(wallet__customer=acme, kind="included").count() == 1
    assert LedgerEntry.objects.filter(wallet__customer=acme, entry_type="grant", grant=included).count() == 1
    # nothing left to lapse here; the conservation holds
    wallet_expire_due(now=end + timedelta(seconds=1))
    assert wallet_conservation(customer_id=acme.pk).holds


def test_unused_included_credits_lapse_and_a_hard_contract_is_not_over_limit_within_them(world):
    meter, acme = _with_included(world, {"billing_model": "prepaid", "enforcement": "hard"}, "100")
    assert included_credits_issue_due() == 1  # the beat, at the period's start
    included = CreditGrant.objects.get(wallet__customer=acme, kind="included")
    ingest([world.event(acme, meter, 80, max(included.effective_at + timedelta(minutes=1), ago(minutes=30)))])
    rate()
    record = RatedUsage.objects.get(customer=acme, superseded_at=None)
    assert not record.over_limit and record.credits_drawn == 80
    wallet_expire_due(now=included.expires_at)
    expiry = LedgerEntry.objects.get(wallet__customer=acme, entry_type="expiry", grant=included)
    assert expiry.amount == D(-20) and expiry.effective_at == included.expires_at
    assert wallet_conservation(customer_id=acme.pk).holds


def test_postpaid_contracts_get_no_included_grant(world):
    _with_included(world, {"billing_model": "postpaid", "enforcement": "unlimited"}, "100")
    assert included_credits_issue_due() == 0
    assert not CreditGrant.objects.filter(kind="included").exists()
