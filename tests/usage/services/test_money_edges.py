"""Issue 8: money exact at the edges (give-backs to the right grants, volume true-ups, rounding once, failure
isolation, included credits). Each test failed on the code before the fix."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.usage.models import RatedUsage
from apps.wallets.models import CreditGrant
from apps.wallets.selectors import wallet_balance, wallet_conservation
from tests.usage.builders import D, ago, ingest, per_grant, rate

pytestmark = pytest.mark.django_db


def test_a_give_back_returns_credits_to_the_grants_the_superseded_records_drew(world):
    """One debit drew a free grant for meter A and a paid one for meter B; a late event re-prices A only. The
    give-back must go to the free grant A drew from (not last-drawn-first to the paid one)."""
    grad = world.meter("grad")
    flat = world.meter("flat")
    table = world.table()
    world.version(
        table,
        {grad: {"model": "graduated", "tiers": [(100, "1", "0"), (None, "0.5", "0")]}, flat: "1"},
        effective_from=ago(days=60),
    )
    acme = world.customer("acme", table, billing_model="prepaid", enforcement="hard")
    free = world.grant(acme, "100", price_per_credit="0", kind="promotional")
    paid = world.grant(acme, "1000", price_per_credit="0.01")
    t = ago(hours=5)
    ingest([world.event(acme, grad, 100, t, id="a"), world.event(acme, flat, 50, t + timedelta(seconds=1), id="b")])
    rate()
    ingest([world.event(acme, grad, 10, t - timedelta(seconds=1), id="late")])
    rate()
    ledger, records = per_grant(acme)
    assert ledger == records
    # late 10 + a re-priced at 10..110 (90 + 5) = 105: the free grant's 100 first, then 5 paid; b's 50 unchanged.
    assert records == {free.pk: (D(100), D(0)), paid.pk: (D(55), D("0.55"))}
    assert wallet_conservation(customer_id=acme.pk).holds


def test_volume_true_up_on_prepaid_gives_the_difference_back_to_the_grants(world):
    """Issue 8.4: 20,000 credits at 0.01, volume tiers (<=100 at 1.00, above at 0.80): 100 units then 1 unit
    is 101 x 0.80 = 80.80 USD = 8,080 credits; balance 11,920; nothing in overage on a hard contract."""
    vol = world.meter("vol")
    table = world.table()
    world.version(
        table, {vol: {"model": "volume", "tiers": [(100, "1", "0"), (None, "0.8", "0")]}}, effective_from=ago(days=60)
    )
    acme = world.customer("acme", table, billing_model="prepaid", enforcement="hard", credit_price="0.01")
    grant = world.grant(acme, "20000", price_per_credit="0.01")
    t = ago(hours=3)
    ingest([world.event(acme, vol, 100, t, id="first")])
    rate()
    ingest([world.event(acme, vol, 1, t + timedelta(seconds=1), id="second")])
    rate()
    current = RatedUsage.objects.filter(customer=acme, superseded_at__isnull=True)
    assert sum(r.credits_drawn for r in current) == D(8080)
    assert wallet_balance(customer_id=acme.pk).balance == D(11920)
    assert all(r.overage_units == 0 and r.overage_amount == 0 for r in current)
    ledger, records = per_grant(acme)
    assert ledger == records == {grant.pk: (D(8080), D("80.80"))}
    assert CreditGrant.objects.get(pk=grant.pk).remaining == D(11920)
    assert wallet_conservation(customer_id=acme.pk).holds
    from apps.usage.statements import statement

    (line,) = statement(customer=acme, start=t.date(), end=(t + timedelta(days=1)).date()).lines
    assert (line.amount, line.given_back, line.credits) == (D("80.80"), D("-19.20"), D("8080.00"))


def test_a_statement_line_is_the_exact_sum_of_its_events_rounded_once_half_up(world):
    """Issue 8.6: seven events of 0.5 units at 0.01 per 7 units are 0.005 USD, shown as 0.01 (not 0.00)."""
    from apps.usage.statements import statement

    meter = world.meter("tiny")
    table = world.table()
    world.version(table, {meter: {"price": "0.01", "per": "7"}}, effective_from=ago(days=60))
    acme = world.customer("acme", table, billing_model="postpaid")
    t = ago(hours=2)
    # in two batches, in shuffled order: the sum does not depend on how the events arrive
    ingest([world.event(acme, meter, "0.5", t + timedelta(seconds=s), id=f"h{s}") for s in (3, 0, 5)])
    rate()
    ingest([world.event(acme, meter, "0.5", t + timedelta(seconds=s), id=f"h{s}") for s in (6, 1, 4, 2)])
    rate()
    current = RatedUsage.objects.filter(customer=acme, superseded_at__isnull=True)
    assert sum(r.amount for r in current) == D("0.005")
    st = statement(customer=acme, start=t.date(), end=(t + timedelta(days=1)).date())
    assert [line.amount for line in st.lines] == [D("0.01")]


def test_an_event_that_cannot_be_stored_is_an_error_and_never_blocks_others(world, clients, actors):
    """Issue 8.5: 10^14 units at 10,000 USD overflow what a record can hold. The POST answers 200, the event is
    marked `error` with a readable reason (usage page and customer page), every other event is rated, and
    re-rating rates it once the rate is fixed."""
    import json

    from django.core.management import call_command
    from django.utils import timezone

    from apps.core.actors import SYSTEM
    from apps.core.services import api_key_create
    from apps.usage.models import UsageEvent
    from apps.usage.services import usage_rerate

    gpu = world.meter("gpu.hours")
    table = world.table()
    world.version(table, {gpu: "10000"}, effective_from=ago(days=60))
    big = world.customer("big", table, billing_model="postpaid")
    small = world.customer("small", table, billing_model="postpaid")
    key = api_key_create(name="ingest", actor=SYSTEM)
    t = ago(hours=2)
    body = {
        "events": [
            world.event(big, gpu, 10**14, t, id="huge"),
            world.event(big, gpu, 1, t, id="fine"),
            world.event(small, gpu, 2, t, id="other"),
        ]
    }
    response = clients["anonymous"].post(
        "/api/v1/events",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.raw_key}",
    )
    assert response.status_code == 200 and response.json()["ingested"] == 3
    call_command("rate_pending")  # does not exit 1
    states = dict(UsageEvent.objects.values_list("event_id", "state"))
    assert states == {"huge": "error", "fine": "rated", "other": "rated"}
    huge = UsageEvent.objects.get(event_id="huge")
    assert "too large to store" in huge.rating_error
    page = clients["finance"].get("/usage/").content.decode()
    assert "too large to store" in page
    panel = clients["finance"].get(f"/usage/customers/{big.external_id}/panel/").content.decode()
    assert "huge" in panel and "too large to store" in panel
    # fixed: a backdated correction at 1 USD, then re-rating rates it
    world.version(table, {gpu: "1"}, effective_from=t - timedelta(hours=1), backdated=True)
    usage_rerate(start=t - timedelta(hours=1), end=timezone.now(), customer_id=big.pk, actor=SYSTEM)
    huge.refresh_from_db()
    assert huge.state == "rated"
    assert RatedUsage.objects.get(event=huge, superseded_at=None).amount == D(10**14)


def test_ingestion_refuses_a_quantity_at_the_limit_with_a_message_that_states_it(world):
    from apps.usage.ingestion import usage_events_ingest

    meter = world.meter("m")
    table = world.table()
    world.version(table, {meter: "1"}, effective_from=ago(days=60))
    acme = world.customer("acme", table, billing_model="postpaid")
    result = usage_events_ingest(
        events=[
            world.event(acme, meter, 10**15, ago(hours=1), id="at-limit"),
            world.event(acme, meter, 10**15 - 1, ago(hours=1), id="below"),
        ]
    )
    assert [(r.id, r.code) for r in result.rejected] == [("at-limit", "invalid_quantity")]
    assert "10^15" in result.rejected[0].message


def test_a_period_whose_cumulative_quantity_would_overflow_errors_only_the_events_beyond_it(world):
    """Quantities that pass one by one can overflow the period's cumulative quantity (stored below 10^18):
    those events are errors with a reason; the ones before them, and other customers, are rated."""
    from apps.usage.models import UsageEvent

    meter = world.meter("bulk")
    table = world.table()
    world.version(table, {meter: "0"}, effective_from=ago(days=60))
    acme = world.customer("acme", table, billing_model="postpaid")
    other = world.customer("other", table, billing_model="postpaid")
    t = ago(hours=3)
    near = 10**15 - 1
    ingest(
        [world.event(acme, meter, near, t + timedelta(milliseconds=i), id=f"b{i:04d}") for i in range(1001)]
        + [world.event(other, meter, 5, t, id="o1")]
    )
    rate()
    errors = list(UsageEvent.objects.filter(state="error").values_list("event_id", "rating_error"))
    assert [e for e, _ in errors] == ["b1000"]
    assert "cumulative quantity" in errors[0][1]
    assert UsageEvent.objects.filter(state="rated").count() == 1001


def test_statement_shows_base_fee_included_credits_and_not_charged_usage_and_the_list_price(world, clients):
    """Issue 8 (also): base fee per period, an included-credits line (granted, used, lapsed), usage over a hard
    limit marked not charged and left out of the amount, unit price = the list price (free units not folded in)."""
    from django.utils import timezone

    from apps.contracts import services as contracts
    from apps.contracts.selectors import contract_in_force
    from apps.usage.statements import statement

    meter = world.meter("img", unit="image")
    table = world.table(unit="credits")
    world.version(table, {meter: {"price": "2", "free": "10"}}, effective_from=ago(days=90))
    acme = contracts.customer_create(external_id="acme", name="Acme", actor=world.owner)
    from datetime import UTC, datetime

    contracts.contract_create(
        customer_id=acme.pk,
        rate_table_id=table.id,
        starts_at=datetime(2020, 1, 1, tzinfo=UTC),
        billing_model="prepaid",
        enforcement="hard",
        base_fee=D("99.5"),
        included_credits=D(100),
        billing_anchor_day=1,
        actor=world.finance,
    )
    world.grant(acme, "20", price_per_credit="0.5")
    start, end = contract_in_force(customer_id=acme.pk, at=timezone.now()).period(timezone.now())
    t = max(start + timedelta(minutes=1), ago(minutes=40))
    ingest([world.event(acme, meter, 80, t, id="i1")])  # 10 free, 70 x 2 = 140 credits; 120 available
    rate()
    st = statement(customer=acme, start=start.date(), end=(end - timedelta(days=1)).date())
    (line,) = st.lines
    assert line.unit_price == D(2) and line.per_unit_price == D(2)
    assert line.not_charged == D(20) and line.amount == D(120)
    assert [(f.base_fee, f.period_start) for f in st.fees] == [(D("99.50"), start.date())]
    (included,) = st.included
    assert (included.granted, included.used, included.lapsed) == (D(100), D(100), D(0))
    html = (
        clients["am"]
        .get(f"/usage/customers/acme/statement/?start={start.date()}&end={(end - timedelta(days=1)).date()}")
        .content.decode()
    )
    assert "Base fee" in html and "99.50" in html and "not charged" in html
    assert "Included credits: 100.00 granted, 100.00 used, 0.00 lapsed" in html


def test_a_write_the_database_refuses_isolates_that_customer_and_rates_the_rest(world, monkeypatch):
    """Beyond the engine's own checks: if writing a batch fails because of one customer's data, the batch is
    rated again customer by customer and only that customer's events are errors (with a reason)."""
    from django.db import DataError

    from apps.usage.models import UsageEvent
    from apps.usage.rating import write
    from apps.usage.services import usage_rate_pending

    meter = world.meter("w")
    table = world.table()
    world.version(table, {meter: "1"}, effective_from=ago(days=60))
    good = world.customer("good", table, billing_model="postpaid")
    bad = world.customer("bad", table, billing_model="postpaid")
    ingest([world.event(good, meter, 1, ago(hours=1), id="g"), world.event(bad, meter, 1, ago(hours=1), id="b")])
    real = write.fast_insert

    def refusing(model, objects):
        if any(getattr(o, "customer_id", None) == bad.pk for o in objects):
            raise DataError("numeric field overflow")
        return real(model, objects)

    monkeypatch.setattr(write, "fast_insert", refusing)
    summary = usage_rate_pending()
    assert summary.errors == 1
    states = dict(UsageEvent.objects.values_list("event_id", "state"))
    assert states == {"g": "rated", "b": "error"}
    assert "too large to store" in UsageEvent.objects.get(event_id="b").rating_error


def test_statement_has_one_base_fee_line_per_billing_period_in_the_range(world):
    from django.utils import timezone

    from apps.usage.statements import statement

    meter = world.meter("fee")
    table = world.table()
    world.version(table, {meter: "1"}, effective_from=ago(days=90))
    acme = world.customer("acme", table, billing_model="postpaid")
    from apps.contracts.models import Contract
    from apps.contracts.services import contract_update
    from apps.core.actors import SYSTEM

    contract = Contract.objects.get(customer=acme)
    contract_update(contract_id=contract.id, actor=SYSTEM, base_fee=D(250), change_reason="fee")
    today = timezone.now().date()
    first_of_previous = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    st = statement(customer=acme, start=first_of_previous, end=today)
    assert [(f.period_start, f.base_fee) for f in st.fees] == [
        (first_of_previous, D(250)),
        (today.replace(day=1), D(250)),
    ]
    assert st.totals["base_fees"] == D(500)
