"""Replays: a batch whose events are already stored is answered from one indexed read, with no write, and every
answer (ingested, duplicates, conflicts) is the same whether the batch comes after new batches or after replays
(the order in which ingestion reads and writes follows what the previous batch was like)."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from apps.core.actors import SYSTEM
from apps.core.services import api_key_create
from apps.usage.ingestion import parse_quantity, parse_timestamp, payload_hash, usage_events_ingest
from apps.usage.models import UsageEvent
from tests.usage.builders import ago

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(world):
    tokens = world.meter("tok")
    table = world.table()
    world.version(table, {tokens: "1"}, effective_from=ago(days=60))
    return world, tokens, world.customer("acme", table)


def batch(world, tokens, acme, prefix: str, n: int) -> list[dict]:
    return [world.event(acme, tokens, i + 1, ago(minutes=300 - i), id=f"{prefix}{i}", user=f"u{i}") for i in range(n)]


def writes(queries) -> list[str]:
    return [q["sql"] for q in queries if "INSERT" in q["sql"].upper() or "UPDATE" in q["sql"].upper()]


def test_a_replayed_batch_is_one_read_and_no_write(setup):
    world, tokens, acme = setup
    events = batch(world, tokens, acme, "r", 50)
    assert usage_events_ingest(events=events).ingested == 50
    assert usage_events_ingest(events=events).duplicates == 50
    with CaptureQueriesContext(connection) as queries:
        again = usage_events_ingest(events=events)
    assert (again.ingested, again.duplicates, again.rejected) == (0, 50, ())
    assert len(queries) == 1 and writes(queries) == []


@pytest.mark.parametrize("after", ["new batches", "replays"])
def test_stored_new_changed_and_respelled_events_in_one_batch(setup, after):
    world, tokens, acme = setup
    stored = batch(world, tokens, acme, "s", 10)
    usage_events_ingest(events=stored)
    if after == "replays":
        usage_events_ingest(events=stored)
    else:
        usage_events_ingest(events=batch(world, tokens, acme, "other", 10))
    fresh = batch(world, tokens, acme, "n", 3)
    mixed = [
        *stored[:5],
        {**stored[5], "quantity": "999"},  # same id, another payload
        *fresh,
        {**stored[6], "quantity": f"0{stored[6]['quantity']}.000"},  # the same payload, spelled differently
        {**stored[7], "attributes": {"user": "someone else"}},
        fresh[0],  # repeated inside the request
    ]
    result = usage_events_ingest(events=mixed)
    assert (result.ingested, result.duplicates) == (3, 7)
    assert [(r.index, r.id, r.code) for r in result.rejected] == [
        (5, "s5", "idempotency_conflict"),
        (10, "s7", "idempotency_conflict"),
    ]
    assert UsageEvent.objects.get(event_id="s5").quantity == 6  # the first payload stays
    assert UsageEvent.objects.filter(event_id__in=["n0", "n1", "n2"]).count() == 3


def test_a_replayed_request_costs_one_query_in_all(setup):
    world, tokens, acme = setup
    key = api_key_create(name="replayer", actor=SYSTEM)
    body = json.dumps({"events": batch(world, tokens, acme, "h", 20)})
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    with override_settings(RATEDESK={**settings.RATEDESK, "API_KEY_CACHE_SECONDS": 3600}):
        for _ in range(2):
            assert client.post("/api/v1/events", data=body, content_type="application/json").status_code == 200
        with CaptureQueriesContext(connection) as queries:
            response = client.post("/api/v1/events", data=body, content_type="application/json")
    assert response.json() == {"ingested": 0, "duplicates": 20, "rejected": []}
    assert len(queries) == 1  # the key is remembered, the events are read once


@pytest.mark.parametrize(
    "quantity,timestamp,attributes",
    [
        ("1500", "2026-11-20T10:00:00Z", {"user": "u-7", "agent": "summarizer"}),
        (1500, "2026-11-20T11:00:00+01:00", {"agent": "summarizer", "user": "u-7"}),
        ("0001500", "2026-11-20T10:00:00.000000+00:00", {}),
        ("1.5e3", "2026-11-20T10:00:00.123456Z", None),
        ("12.500", "2026-11-20T05:00:00-05:00", {"nested": {"b": [1, 2.5], "a": None}}),
        ("0", "2026-11-20T10:00:00Z", {"émoji": "✓", "user": "ü"}),
        ("999999999999999", "2026-11-20T10:00:00Z", {"user": "u"}),
    ],
)
def test_stored_rows_match_the_reference_payload_hash(setup, quantity, timestamp, attributes):
    """Whatever path validated an event, the stored hash is payload_hash() of its parsed fields."""
    world, tokens, acme = setup
    event = {
        "id": "ref",
        "customer": acme.external_id,
        "meter": tokens.code,
        "quantity": quantity,
        "timestamp": timestamp,
    }
    if attributes is not None:
        event["attributes"] = attributes
    result = usage_events_ingest(events=[event], now=parse_timestamp(timestamp))
    assert result.ingested == 1, result.rejected
    stored = UsageEvent.objects.get(event_id="ref")
    parsed_quantity = parse_quantity(quantity)
    canonical = json.dumps(attributes or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    expected = payload_hash(
        meter_code=tokens.code,
        quantity=parsed_quantity,
        timestamp=parse_timestamp(timestamp),
        attributes_json=canonical,
    )
    assert stored.payload_hash == expected
    assert stored.quantity == parsed_quantity and stored.timestamp == parse_timestamp(timestamp)
