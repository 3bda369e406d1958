"""Included usage crossing the contract's thresholds: fires at each threshold once, also under replay."""

from decimal import Decimal

import pytest
from django.core import mail

from apps.alerts.models import Alert, AlertRule, Kind
from tests.alerts.builders import ago, ingest, ingest_and_rate, rate

pytestmark = pytest.mark.django_db


def _included(customer):
    return list(Alert.objects.filter(customer=customer, kind=Kind.INCLUDED_USAGE).order_by("threshold"))


def test_fires_at_each_threshold_once_after_rating(shop, users, django_capture_on_commit_callbacks):
    acme = shop.customer("acme", allowances={shop.tokens: 1000}, credits="100000", manager=users["am"])
    ingest_and_rate([shop.event(acme, shop.tokens, 650, ago(hours=30))], django_capture_on_commit_callbacks)
    assert _included(acme) == []
    # default rules came from the contract: 70/90/100 % of included usage
    keys = set(AlertRule.objects.filter(customer=acme, source="default").values_list("default_key", flat=True))
    assert {"included_usage:70", "included_usage:90", "included_usage:100"} <= keys

    ingest_and_rate([shop.event(acme, shop.tokens, 50, ago(hours=3))], django_capture_on_commit_callbacks)  # 70 %
    alerts = _included(acme)
    assert [(a.threshold, a.value, a.subject) for a in alerts] == [(Decimal(70), Decimal("70.00"), shop.tokens.code)]

    batch = [shop.event(acme, shop.tokens, 250, ago(hours=2))]  # 95 %
    ingest_and_rate(batch, django_capture_on_commit_callbacks)
    alerts = _included(acme)
    assert [(a.threshold, a.value) for a in alerts] == [
        (Decimal(70), Decimal("70.00")),
        (Decimal(90), Decimal("95.00")),
    ]
    assert all(a.state == Alert.State.OPEN for a in alerts)
    assert alerts[1].occurred_on == ago(hours=2).date()

    # replaying the same usage and repeating the rating task change nothing
    ingest_and_rate(batch, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        rate()
    assert len(_included(acme)) == 2
    # one email per alert to the account manager
    assert len([m for m in mail.outbox if "included" in m.subject]) == 2
    assert all(m.to == [users["am"].email] for m in mail.outbox)


def test_evaluating_again_and_again_fires_once(shop, evaluate, django_capture_on_commit_callbacks):
    acme = shop.customer("acme", allowances={shop.tokens: 1000}, credits="100000")
    with django_capture_on_commit_callbacks(execute=True):
        ingest([shop.event(acme, shop.tokens, 1200, ago(hours=2))])
        rate()
    for _ in range(3):
        evaluate(acme)
    assert sorted(a.threshold for a in _included(acme)) == [70, 90, 100]
    assert Alert.objects.filter(customer=acme).count() == 3
