"""Ingestion service: the write is one transaction, so a failed request followed by a retry never loses or
doubles an event; window edges; within-request repeats."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.catalog.models import RateTable
from apps.usage.ingestion import usage_events_ingest
from apps.usage.models import UsageEvent
from tests.usage.builders import ago

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(world):
    tokens = world.meter("tok")
    table = world.table()
    world.version(table, {tokens: "1"}, effective_from=ago(days=60))
    return world, tokens, world.customer("acme", table)


class Boom(Exception):
    pass


def test_failed_write_followed_by_retry_neither_loses_nor_doubles(setup):
    world, tokens, acme = setup
    events = [world.event(acme, tokens, i, ago(minutes=200 - i), id=f"e{i}") for i in range(100)]
    assert usage_events_ingest(events=events[:50]).ingested == 50
    # The next request writes, then fails before commit (a crash, a timeout...): nothing of it stays.
    with pytest.raises(Boom), transaction.atomic():
        result = usage_events_ingest(events=events)
        assert (result.ingested, result.duplicates) == (50, 50)
        raise Boom
    assert UsageEvent.objects.count() == 50
    retry = usage_events_ingest(events=events)
    assert (retry.ingested, retry.duplicates, retry.rejected) == (50, 50, ())
    again = usage_events_ingest(events=events)
    assert (again.ingested, again.duplicates) == (0, 100)
    assert UsageEvent.objects.count() == 100


def test_window_edges(setup):
    world, tokens, acme = setup
    now = timezone.now()
    tolerance = timedelta(seconds=settings.RATEDESK["USAGE_FUTURE_TOLERANCE_SECONDS"])
    late = timedelta(days=settings.RATEDESK["USAGE_LATE_WINDOW_DAYS"])
    events = [
        world.event(acme, tokens, 1, now + tolerance, id="future-edge"),
        world.event(acme, tokens, 1, now + tolerance + timedelta(seconds=1), id="too-far"),
        world.event(acme, tokens, 1, now - late, id="late-edge"),
        world.event(acme, tokens, 1, now - late - timedelta(seconds=1), id="too-old"),
    ]
    result = usage_events_ingest(events=events, now=now)
    assert result.ingested == 2
    assert {r.id: r.code for r in result.rejected} == {"too-far": "timestamp_in_future", "too-old": "timestamp_too_old"}


def test_repeats_inside_one_request(setup):
    world, tokens, acme = setup
    event = world.event(acme, tokens, 5, ago(minutes=1), id="x")
    result = usage_events_ingest(events=[event, event, {**event, "quantity": "6"}])
    assert (result.ingested, result.duplicates) == (1, 1)
    assert [(r.index, r.code) for r in result.rejected] == [(2, "idempotency_conflict")]


def test_ids_are_per_customer(setup, world):
    _, tokens, acme = setup
    other = world.customer("other", RateTable.objects.first())
    result = usage_events_ingest(
        events=[
            world.event(acme, tokens, 1, ago(minutes=1), id="same"),
            world.event(other, tokens, 1, ago(minutes=1), id="same"),
        ]
    )
    assert result.ingested == 2


def test_lookup_memo_sees_new_and_deactivated_meters_at_once(setup, world):
    _, tokens, acme = setup
    assert usage_events_ingest(events=[world.event(acme, tokens, 1, ago(minutes=1))]).ingested == 1
    images = world.meter("img")
    assert usage_events_ingest(events=[world.event(acme, images, 1, ago(minutes=1))]).ingested == 1
    images.is_active = False
    images.save()
    result = usage_events_ingest(events=[world.event(acme, images, 1, ago(minutes=1))])
    assert [r.code for r in result.rejected] == ["unknown_meter"]
