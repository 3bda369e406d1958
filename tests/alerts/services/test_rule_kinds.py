"""Each rule type fires at its threshold, only once (also under replay and repeated rating), records the value and
threshold it fired on, and resolves when its condition clears."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.alerts.models import Alert, AlertRule, Kind
from apps.alerts.services import alert_rule_create
from apps.core.actors import SYSTEM
from tests.alerts.builders import Shop, ago, ingest_and_rate, rate

pytestmark = pytest.mark.django_db


def alerts(customer, kind):
    return list(Alert.objects.filter(customer=customer, kind=kind).order_by("id"))


def test_balance_below_fires_once_resolves_on_top_up_and_fires_again_on_a_new_crossing(
    shop, evaluate, django_capture_on_commit_callbacks
):
    c = shop.customer("bal", credits="1000")
    alert_rule_create(kind=Kind.BALANCE_BELOW, threshold="500", customer_id=c.pk, actor=SYSTEM)
    # 300k tokens at 0.002 credits = 600 credits: balance 400
    batch = [shop.event(c, shop.tokens, 300_000, ago(hours=2))]
    ingest_and_rate(batch, django_capture_on_commit_callbacks)
    [alert] = alerts(c, Kind.BALANCE_BELOW)
    assert (alert.value, alert.threshold, alert.unit, alert.state) == (Decimal(400), Decimal(500), "credits", "open")

    ingest_and_rate(batch, django_capture_on_commit_callbacks)  # replayed: duplicates, nothing new
    ingest_and_rate([shop.event(c, shop.tokens, 50_000, ago(hours=1))], django_capture_on_commit_callbacks)  # 300
    evaluate(c)
    [alert] = alerts(c, Kind.BALANCE_BELOW)
    assert alert.last_value == Decimal(300)

    shop.grant(c, "1000")  # top-up: 1300 credits, the condition clears
    evaluate(c)
    alert.refresh_from_db()
    assert alert.state == Alert.State.RESOLVED and alert.resolved_value == Decimal(1300)
    assert alert.resolve_reason == "condition cleared"

    ingest_and_rate([shop.event(c, shop.tokens, 500_000, ago(minutes=30))], django_capture_on_commit_callbacks)
    first, second = alerts(c, Kind.BALANCE_BELOW)
    assert (second.seq, second.value, second.state) == (2, Decimal(300), "open")
    assert first.window == second.window


def test_runway_below_default_rule_fires_at_seven_days(shop, evaluate, django_capture_on_commit_callbacks):
    c = shop.customer("runway", credits="1000")
    ingest_and_rate([shop.event(c, shop.tokens, 200_000, ago(hours=3))], django_capture_on_commit_callbacks)
    # burn 400 credits / 14 days = 28.6 a day; 600 left: 21 days
    assert alerts(c, Kind.RUNWAY_BELOW) == []
    ingest_and_rate([shop.event(c, shop.tokens, 250_000, ago(hours=2))], django_capture_on_commit_callbacks)
    # burn 900 / 14 = 64.3 a day; 100 left: 1.6 days < 7
    [alert] = alerts(c, Kind.RUNWAY_BELOW)
    assert alert.threshold == Decimal(7) and alert.unit == "days"
    assert Decimal("1.4") <= alert.value <= Decimal("1.7")
    assert alert.rule.source == AlertRule.Source.DEFAULT and alert.detail["runs_out_on"]
    for _ in range(2):
        rate()
        evaluate(c)
    assert len(alerts(c, Kind.RUNWAY_BELOW)) == 1


def test_postpaid_spend_above(shop, evaluate, django_capture_on_commit_callbacks):
    c = shop.customer("post", billing_model="postpaid", enforcement="unlimited")
    alert_rule_create(kind=Kind.POSTPAID_SPEND_ABOVE, threshold="5", customer_id=c.pk, actor=SYSTEM)
    ingest_and_rate([shop.event(c, shop.tokens, 200_000, ago(hours=3))], django_capture_on_commit_callbacks)  # $4
    assert alerts(c, Kind.POSTPAID_SPEND_ABOVE) == []
    batch = [shop.event(c, shop.tokens, 100_000, ago(hours=2))]  # $6
    ingest_and_rate(batch, django_capture_on_commit_callbacks)
    ingest_and_rate(batch, django_capture_on_commit_callbacks)
    evaluate(c)
    [alert] = alerts(c, Kind.POSTPAID_SPEND_ABOVE)
    assert (alert.value, alert.threshold, alert.unit) == (Decimal("6.00"), Decimal(5), "USD")


def _day_start(days_ago: int) -> datetime:
    d = (timezone.now() - timedelta(days=days_ago)).astimezone(UTC).date()
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def test_daily_spike_against_the_trailing_seven_day_average(shop, evaluate, django_capture_on_commit_callbacks):
    c = shop.customer("spiky", billing_model="postpaid", enforcement="unlimited")
    history = [shop.event(c, shop.images, 10, _day_start(d) + timedelta(hours=1)) for d in range(1, 8)]
    ingest_and_rate(history, django_capture_on_commit_callbacks)
    assert alerts(c, Kind.DAILY_SPIKE) == []
    now = timezone.now()
    today = _day_start(0)
    at = today + (now - today) / 2  # some time today, in the past
    ingest_and_rate([shop.event(c, shop.images, 25, at)], django_capture_on_commit_callbacks)
    # images is a sum meter: 25 images today against an average of 10 a day: 2.5x, below the default 3x
    assert alerts(c, Kind.DAILY_SPIKE) == []
    ingest_and_rate([shop.event(c, shop.images, 15, at)], django_capture_on_commit_callbacks)  # 40 = 4x
    [alert] = alerts(c, Kind.DAILY_SPIKE)
    assert (alert.value, alert.threshold, alert.subject, alert.unit) == (
        Decimal("4.00"),
        Decimal(3),
        shop.images.code,
        "×",
    )
    assert alert.window == today.date().isoformat() and alert.occurred_on == today.date()
    evaluate(c)
    ingest_and_rate([shop.event(c, shop.images, 10, at)], django_capture_on_commit_callbacks)  # 5x: same crossing
    assert len(alerts(c, Kind.DAILY_SPIKE)) == 1


def test_negative_margin_fires_for_a_meter_priced_below_cost_only(actors, evaluate, django_capture_on_commit_callbacks):
    # tokens cost $0.00001; this shop's USD table sells them at $0.000005 and its credits table at cost x2
    shop = Shop(actors, usd_token_price="0.000005")
    cheap = shop.customer("cheap", billing_model="postpaid", enforcement="unlimited")
    fair = shop.customer("fair", credits="100000", price_per_credit="0")  # free credits at a fair price
    included = shop.customer("included", billing_model="prepaid", credits="1000", allowances={shop.tokens: 1_000_000})
    ingest_and_rate(
        [
            shop.event(cheap, shop.tokens, 100_000, ago(hours=2)),
            shop.event(fair, shop.tokens, 100_000, ago(hours=2)),
            shop.event(included, shop.tokens, 100_000, ago(hours=2)),
        ],
        django_capture_on_commit_callbacks,
    )
    [alert] = alerts(cheap, Kind.NEGATIVE_MARGIN)
    assert (alert.value, alert.threshold, alert.subject) == (Decimal("-100.00"), Decimal(0), shop.tokens.code)
    assert alert.rule.customer_id is None  # the default rule for every customer
    assert alerts(fair, Kind.NEGATIVE_MARGIN) == []  # free credits are a discount, not a price below cost
    assert alerts(included, Kind.NEGATIVE_MARGIN) == []  # included usage is paid by the base fee
    evaluate(cheap, fair, included)
    assert Alert.objects.filter(kind=Kind.NEGATIVE_MARGIN).count() == 1


def test_included_usage_resolves_when_the_allowance_is_raised(shop, evaluate, django_capture_on_commit_callbacks):
    from apps.contracts.services import contract_update

    c = shop.customer("grow", allowances={shop.tokens: 1000}, credits="100000")
    ingest_and_rate([shop.event(c, shop.tokens, 950, ago(hours=2))], django_capture_on_commit_callbacks)
    assert sorted(a.threshold for a in alerts(c, Kind.INCLUDED_USAGE)) == [70, 90]
    contract = c.contracts.get()
    contract_update(
        contract_id=contract.pk, allowances={shop.tokens.pk: Decimal(10_000)}, actor=SYSTEM, change_reason="upsell"
    )
    evaluate(c)
    assert {a.state for a in alerts(c, Kind.INCLUDED_USAGE)} == {Alert.State.RESOLVED}


def test_acknowledged_alert_stays_acknowledged_while_the_condition_holds(
    shop, evaluate, actors, django_capture_on_commit_callbacks
):
    from apps.alerts.services import alert_acknowledge

    c = shop.customer("ack", credits="1000")
    alert_rule_create(kind=Kind.BALANCE_BELOW, threshold="500", customer_id=c.pk, actor=SYSTEM)
    ingest_and_rate([shop.event(c, shop.tokens, 300_000, ago(hours=2))], django_capture_on_commit_callbacks)
    [alert] = alerts(c, Kind.BALANCE_BELOW)
    alert_acknowledge(alert_id=alert.pk, note="Called them, top-up on Friday", actor=actors["am"])
    ingest_and_rate([shop.event(c, shop.tokens, 10_000, ago(hours=1))], django_capture_on_commit_callbacks)
    evaluate(c)
    [alert] = alerts(c, Kind.BALANCE_BELOW)
    assert alert.state == Alert.State.ACKNOWLEDGED and alert.acknowledged_by == actors["am"].user
    shop.grant(c, "5000")
    evaluate(c)
    alert.refresh_from_db()
    assert alert.state == Alert.State.RESOLVED
