"""Real concurrency on PostgreSQL: 16 requests with the same batch land once; two rating workers at once price
positions correctly and never rate an event twice."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.test import Client

from apps.core.actors import SYSTEM
from apps.core.services import api_key_create
from apps.usage.models import RatedUsage, UsageEvent
from apps.usage.services import usage_rating_batch_run
from apps.wallets.selectors import wallet_balance, wallet_conservation
from tests.usage.builders import ago, ingest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("real concurrent connections need PostgreSQL")


def run_threads(target, n):
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def worker(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_sixteen_concurrent_requests_with_the_same_batch_land_once(world):
    tokens = world.meter("tok")
    table = world.table()
    world.version(table, {tokens: "1"}, effective_from=ago(days=30))
    acme = world.customer("acme", table, billing_model="postpaid")
    key = api_key_create(name="load", actor=SYSTEM)
    events = [world.event(acme, tokens, i + 1, ago(minutes=100 - i), id=f"same-{i}") for i in range(100)]
    body = json.dumps({"events": events})

    def post(_):
        response = Client().post(
            "/api/v1/events", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key.raw_key}"
        )
        assert response.status_code == 200, response.content
        return response.json()

    results = run_threads(post, 16)
    assert sum(r["ingested"] for r in results) == 100
    assert sum(r["duplicates"] for r in results) == 15 * 100
    assert all(r["rejected"] == [] for r in results)
    assert UsageEvent.objects.count() == 100


def test_two_rating_workers_at_once_rate_each_event_once_in_position(world, settings):
    settings.RATEDESK = {**settings.RATEDESK, "USAGE_RATE_ON_INGEST": False}  # the workers below do the rating
    tokens = world.meter("tok")
    table = world.table(unit="credits")
    world.version(
        table,
        {tokens: {"model": "graduated", "tiers": [(500, "2", "0"), (None, "1", "0")]}},
        effective_from=ago(days=30),
    )
    acme = world.customer("acme", table, credits="100000")
    ingest([world.event(acme, tokens, 10, ago(minutes=300 - i), id=f"e{i:03d}") for i in range(200)])
    assert UsageEvent.objects.filter(state="pending").count() == 200

    def work(_):
        done = 0
        while usage_rating_batch_run(batch_size=7).claimed:
            done += 1
        return done

    run_threads(work, 4)
    records = list(RatedUsage.objects.filter(superseded_at__isnull=True).order_by("timestamp"))
    assert len(records) == 200 and UsageEvent.objects.filter(state="rated").count() == 200
    # 2000 units: 500 at 2 + 1500 at 1, whatever the interleaving of the workers.
    assert sum(r.amount for r in records) == Decimal(2500)
    assert [r.prior_quantity for r in records] == [Decimal(10 * i) for i in range(200)]
    assert wallet_balance(customer_id=acme.pk).balance == 100000 - 2500
    assert wallet_conservation(customer_id=acme.pk).holds
