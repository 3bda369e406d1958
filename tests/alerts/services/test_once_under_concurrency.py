"""Firing once is a database guarantee, not a hope: two evaluations racing (real PostgreSQL connections) and
direct inserts of a second live alert or a second alert for the same crossing are refused."""

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from apps.alerts.models import Alert, AlertRule, Kind
from apps.alerts.services import alert_rule_create, alerts_evaluate
from apps.core.actors import SYSTEM
from tests.alerts.builders import Shop, ago, ingest, rate


def _alert(rule, customer, **kwargs):
    values = {
        "rule": rule,
        "customer": customer,
        "kind": rule.kind,
        "subject": "",
        "window": "2026-11-01",
        "seq": 1,
        "value": Decimal(1),
        "threshold": Decimal(2),
        "message": "x",
        "occurred_on": timezone.now().date(),
        "fired_at": timezone.now(),
    }
    values.update(kwargs)
    return Alert.objects.create(**values)


@pytest.mark.django_db
def test_the_database_refuses_a_second_live_alert_and_a_repeated_crossing(actors):
    shop = Shop(actors)
    customer = shop.customer("dup", credits="10")
    rule = alert_rule_create(kind=Kind.BALANCE_BELOW, threshold="100", customer_id=customer.pk, actor=SYSTEM)
    first = _alert(rule, customer)
    with pytest.raises(IntegrityError), transaction.atomic():
        _alert(rule, customer, seq=2)  # a second live alert in the same window
    Alert.objects.filter(pk=first.pk).update(state=Alert.State.RESOLVED)
    with pytest.raises(IntegrityError), transaction.atomic():
        _alert(rule, customer, state=Alert.State.RESOLVED)  # the same crossing again
    _alert(rule, customer, seq=2)  # a new crossing after it resolved is fine


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_racing_evaluations_fire_each_crossing_once(actors):
    if connection.vendor != "postgresql":
        pytest.skip("real concurrent connections need PostgreSQL")
    shop = Shop(actors)
    customers = [shop.customer(f"race-{i}", allowances={shop.tokens: 1000}, credits="100000") for i in range(3)]
    for c in customers:
        alert_rule_create(kind=Kind.BALANCE_BELOW, threshold="1000000", customer_id=c.pk, actor=SYSTEM)
    ingest([shop.event(c, shop.tokens, 1500, ago(hours=1)) for c in customers])
    rate()  # (its own on-commit evaluation may run too: it only adds to the race)
    ids = [c.pk for c in customers]
    barrier = threading.Barrier(6)
    errors = []

    def worker():
        try:
            barrier.wait(timeout=20)
            alerts_evaluate(customer_ids=list(reversed(ids)) if threading.get_ident() % 2 else ids)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    for c in customers:
        kinds = sorted((a.kind, a.threshold) for a in Alert.objects.filter(customer=c))
        assert kinds == [
            (Kind.BALANCE_BELOW, Decimal(1000000)),
            (Kind.INCLUDED_USAGE, Decimal(70)),
            (Kind.INCLUDED_USAGE, Decimal(90)),
            (Kind.INCLUDED_USAGE, Decimal(100)),
        ]
    assert AlertRule.objects.filter(contract__isnull=False, default_key="included_usage:70").count() == 3
