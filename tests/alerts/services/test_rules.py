"""Rules: defaults from each contract (synced idempotently, edits kept), custom rules validated, acknowledgement."""

from decimal import Decimal

import pytest

from apps.alerts.models import AlertRule, Kind
from apps.alerts.services import (
    GLOBAL_MARGIN_KEY,
    alert_acknowledge,
    alert_rule_create,
    alert_rule_update,
    alerts_evaluate,
)
from apps.contracts.services import contract_update
from apps.core.actors import SYSTEM
from apps.core.errors import Conflict, ValidationFailed

pytestmark = pytest.mark.django_db


def _defaults(customer):
    return {r.default_key: r for r in AlertRule.objects.filter(customer=customer, source="default")}


def test_default_rules_come_from_the_contract_and_follow_its_thresholds(shop):
    c = shop.customer("defaults", allowances={shop.tokens: 1000}, thresholds=(70, 90, 100), credits="10")
    post = shop.customer("post", billing_model="postpaid", enforcement="unlimited")
    alerts_evaluate(customer_ids=[c.pk, post.pk])
    alerts_evaluate(customer_ids=[c.pk, post.pk])  # idempotent
    assert set(_defaults(c)) == {
        "included_usage:70",
        "included_usage:90",
        "included_usage:100",
        "runway_below",
        "daily_spike",
    }
    assert set(_defaults(post)) == {"daily_spike"}  # no allowance, no wallet
    assert AlertRule.objects.filter(customer__isnull=True, default_key=GLOBAL_MARGIN_KEY).count() == 1
    assert _defaults(c)["runway_below"].threshold == Decimal(7)

    # a person tightens the 90 % rule; the contract then moves to 50/80/100
    alert_rule_update(rule_id=_defaults(c)["included_usage:90"].pk, threshold="85", enabled=True, actor=SYSTEM)
    contract_update(
        contract_id=c.contracts.get().pk, alert_thresholds=[50, 80, 100], actor=SYSTEM, change_reason="earlier warnings"
    )
    alerts_evaluate(customer_ids=[c.pk])
    rules = _defaults(c)
    assert {k for k, r in rules.items() if r.enabled} == {
        "included_usage:50",
        "included_usage:80",
        "included_usage:100",
        "included_usage:90",
        "runway_below",
        "daily_spike",
    }
    assert not rules["included_usage:70"].enabled  # no longer implied by the contract
    assert rules["included_usage:90"].customized and rules["included_usage:90"].threshold == Decimal(85)


@pytest.mark.parametrize(
    "kind, threshold, message",
    [
        (Kind.BALANCE_BELOW, "0", "above zero"),
        (Kind.DAILY_SPIKE, "1", "multiple above 1"),
        (Kind.INCLUDED_USAGE, "5000", "percentages"),
        (Kind.NEGATIVE_MARGIN, "150", "between -1000 and 100"),
        ("nonsense", "5", "rule type"),
    ],
)
def test_custom_rule_validation(kind, threshold, message):
    with pytest.raises(ValidationFailed, match=message):
        alert_rule_create(kind=kind, threshold=threshold, actor=SYSTEM)


def test_a_meter_only_for_meter_rules(shop):
    with pytest.raises(ValidationFailed, match="whole account"):
        alert_rule_create(kind=Kind.BALANCE_BELOW, threshold="10", meter_id=shop.tokens.pk, actor=SYSTEM)
    rule = alert_rule_create(
        kind=Kind.DAILY_SPIKE, threshold="2.5", meter_id=shop.tokens.pk, actor=SYSTEM, note="agents"
    )
    assert rule.meter == shop.tokens and rule.source == "custom" and rule.threshold == Decimal("2.5")
    assert rule.history.count() == 1


def test_acknowledge_needs_a_note_and_an_open_alert(shop, actors):
    from apps.alerts.models import Alert

    c = shop.customer("ack", credits="10")
    alert_rule_create(kind=Kind.BALANCE_BELOW, threshold="100", customer_id=c.pk, actor=SYSTEM)
    alerts_evaluate(customer_ids=[c.pk])
    alert = Alert.objects.get(customer=c, kind=Kind.BALANCE_BELOW)
    with pytest.raises(ValidationFailed):
        alert_acknowledge(alert_id=alert.pk, note="  ", actor=actors["am"])
    alert_acknowledge(alert_id=alert.pk, note="Top-up agreed", actor=actors["am"])
    with pytest.raises(Conflict):
        alert_acknowledge(alert_id=alert.pk, note="again", actor=actors["support"])
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledge_note, alert.acknowledged_by) == (
        "acknowledged",
        "Top-up agreed",
        actors["am"].user,
    )


def test_disabling_a_rule_resolves_its_live_alerts(shop):
    from apps.alerts.models import Alert

    c = shop.customer("off", credits="10")
    rule = alert_rule_create(kind=Kind.BALANCE_BELOW, threshold="100", customer_id=c.pk, actor=SYSTEM)
    alerts_evaluate(customer_ids=[c.pk])
    alert_rule_update(rule_id=rule.pk, threshold="100", enabled=False, actor=SYSTEM)
    alerts_evaluate(customer_ids=[c.pk])
    alert = Alert.objects.get(rule=rule)
    assert alert.state == "resolved" and alert.resolve_reason == "rule disabled or no longer applies"
