"""Re-rating: a backdated version re-prices the usage it affects (reversals and new charges in the ledger, rollups
rebuilt, a summary of the difference); re-running changes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.usage.models import DailyUsage, RatedUsage, RatingBatch, UsageEvent
from apps.usage.services import usage_rerate
from apps.wallets.models import LedgerEntry
from apps.wallets.selectors import wallet_balance, wallet_conservation
from tests.usage.builders import ago, ingest, rate
from tests.usage.services.test_invariance import assert_rollups_match_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated(world):
    tokens = world.meter("tok", cost="0.1")
    table = world.table(unit="credits")
    world.version(table, {tokens: "1"}, effective_from=ago(days=30))
    acme = world.customer("acme", table, credits="1000", price_per_credit="0.5")
    other = world.customer("other", table, credits="1000")
    ingest([world.event(c, tokens, 10, ago(days=d, minutes=1), id=f"d{d}") for c in (acme, other) for d in range(6)])
    rate()
    return world, tokens, table, acme, other


def test_backdated_approval_rerates_through_the_signal(rated, django_capture_on_commit_callbacks):
    world, tokens, table, acme, other = rated
    assert wallet_balance(customer_id=acme.pk).balance == 940
    with django_capture_on_commit_callbacks(execute=True):
        v2 = world.version(table, {tokens: "3"}, effective_from=ago(days=3, hours=12), backdated=True)
    batch = RatingBatch.objects.get(kind=RatingBatch.Kind.RERATE)
    assert "backdated version" in batch.reason
    current = {(r.customer_id, r.event_ref): r for r in RatedUsage.objects.filter(superseded_at__isnull=True)}
    for customer in (acme, other):
        for d in range(6):
            record = current[(customer.pk, f"d{d}")]
            assert (record.rate_version_id == v2.id) is (d <= 3)
            assert record.amount == (30 if d <= 3 else 10)
    # 4 events x 2 customers re-priced from 10 to 30 credits.
    assert batch.superseded == 8 and batch.events == 8
    assert Decimal(batch.summary["difference"]["amount"]) == 160
    assert Decimal(batch.summary["difference"]["credits_drawn"]) == 160
    for customer in (acme, other):
        assert wallet_balance(customer_id=customer.pk).balance == 1000 - 20 - 120
        assert wallet_conservation(customer_id=customer.pk).holds
        assert_rollups_match_records(customer)
        entries = LedgerEntry.objects.filter(wallet__customer=customer)
        assert entries.filter(entry_type="reversal").count() == 1
        assert entries.filter(entry_type="reversal").get().amount == 40
        assert entries.filter(entry_type="debit").count() == 2
    # The superseded records stay, pointing at the re-rating batch.
    old = RatedUsage.objects.filter(superseded_at__isnull=False)
    assert old.count() == 8 and set(old.values_list("superseded_by", flat=True)) == {batch.pk}
    assert sum(DailyUsage.objects.filter(customer=acme).values_list("amount", flat=True)) == 140


def test_rerate_again_changes_nothing_and_the_command_prints_the_difference(rated, capsys):
    world, tokens, table, acme, other = rated
    world.version(table, {tokens: "2"}, effective_from=ago(days=1, hours=12), backdated=True)
    call_command(
        "rerate",
        "--start",
        ago(days=2).date().isoformat(),
        "--end",
        (timezone.now() + timedelta(days=1)).date().isoformat(),
        "--customer",
        "acme",
    )
    out = capsys.readouterr().out
    assert "2 re-rated" in out and "difference 20" in out
    assert wallet_balance(customer_id=acme.pk).balance == 920
    assert wallet_balance(customer_id=other.pk).balance == 940  # not asked for
    entries = LedgerEntry.objects.count()
    summary = usage_rerate(
        start=ago(days=10), end=timezone.now() + timedelta(hours=1), customer_id=acme.pk, actor=SYSTEM
    )
    assert not summary.changed and all(v == 0 for v in summary.difference.values())
    assert LedgerEntry.objects.count() == entries


def test_rerate_rates_events_that_could_not_be_rated(world):
    tokens = world.meter("tok")
    table = world.table()
    world.version(table, {tokens: "1"}, effective_from=ago(days=30))
    cut = ago(days=2)
    acme = world.customer("acme", table, billing_model="postpaid", starts_at=cut)
    ingest([world.event(acme, tokens, 5, ago(days=4), id="before-contract")])
    rate()
    assert UsageEvent.objects.get().state == "error"
    from apps.contracts import services as contracts

    contracts.contract_create(
        customer_id=acme.pk,
        rate_table_id=table.id,
        starts_at=ago(days=10),
        ends_at=cut,
        billing_model="postpaid",
        actor=world.finance,
    )
    summary = usage_rerate(start=ago(days=5), end=ago(days=3), actor=SYSTEM)
    assert summary.rerated == 1 and summary.errors == 0
    assert UsageEvent.objects.get().state == "rated"
    assert RatedUsage.objects.get().overage_amount == 5


def test_rerate_validates_its_range(rated):
    from apps.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        usage_rerate(start=ago(days=1), end=ago(days=2), actor=SYSTEM)


def test_credits_a_re_rate_gives_back_pay_for_usage_over_a_hard_limit_in_an_earlier_period(world):
    """100 credits, hard. This period: 80 tokens at 1 (80 drawn). The previous period's 50 tokens arrive late:
    20 drawn, 30 over the limit. A backdated version halves this period's price: the re-rate gives 40 credits
    back, and they pay for the 30 left over the limit (a re-rate batch of its own, which says why)."""
    tokens = world.meter("tok", cost="0.1")
    table = world.table(unit="credits")
    world.version(table, {tokens: "1"}, effective_from=ago(days=60))
    acme = world.customer("acme", table, credits="100", enforcement="hard", anchor_day=ago(days=5).day)
    ingest([world.event(acme, tokens, 80, ago(days=1), id="now-80")])
    rate()
    ingest([world.event(acme, tokens, 50, ago(days=8), id="late-50")])
    rate()
    late = RatedUsage.objects.get(event_ref="late-50", superseded_at__isnull=True)
    assert (late.credits_drawn, late.over_limit) == (20, True)

    world.version(table, {tokens: "0.5"}, effective_from=ago(days=3), backdated=True)
    usage_rerate(start=ago(days=3), end=timezone.now(), actor=SYSTEM, reason="cheaper")

    current = {r.event_ref: r for r in RatedUsage.objects.filter(customer=acme, superseded_at__isnull=True)}
    assert (current["now-80"].credits, current["now-80"].credits_drawn) == (40, 40)
    assert (current["late-50"].credits_drawn, current["late-50"].over_limit) == (50, False)
    assert wallet_balance(customer_id=acme.pk).balance == 10
    assert wallet_conservation(customer_id=acme.pk).holds
    assert_rollups_match_records(acme)
    assert RatingBatch.objects.filter(kind=RatingBatch.Kind.RERATE, reason__contains="pay for usage over").count() == 1
