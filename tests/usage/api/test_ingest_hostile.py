"""Hostile input to POST /api/v1/events: a bad event is rejected on its own, the rest of the batch lands;
a body that is unacceptable as a whole is a 400 (or 413), never a 500."""

from __future__ import annotations

import io
import json

import pytest
from django.conf import settings
from django.test import Client, override_settings

from apps.core.actors import SYSTEM
from apps.core.services import api_key_create
from apps.usage import ingestion
from apps.usage.models import UsageEvent
from tests.usage.builders import ago

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"


@pytest.fixture
def setup(world):
    tokens = world.meter("llm.input_tokens")
    table = world.table()
    world.version(table, {tokens: "0.001"}, effective_from=ago(days=60))
    acme = world.customer("acme", table, credits="1000")
    key = api_key_create(name="ingest", actor=SYSTEM)
    return world, tokens, acme, key


def post_raw(key, data: bytes, **extra):
    return Client().post(
        URL, data=data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key.raw_key}", **extra
    )


def good_event(world, tokens, acme, event_id="good"):
    return world.event(acme, tokens, 10, ago(minutes=5), id=event_id)


def batch_with(world, tokens, acme, bad: dict) -> bytes:
    # json.dumps with ensure_ascii escapes NUL and lone surrogates as \u0000 / \ud800, as a client would send.
    return json.dumps({"events": [good_event(world, tokens, acme), bad]}).encode()


def assert_one_rejected(response, code="invalid"):
    assert response.status_code == 200, response.content
    payload = response.json()
    assert payload["ingested"] == 1
    assert [r["index"] for r in payload["rejected"]] == [1]
    assert payload["rejected"][0]["code"] == code and payload["rejected"][0]["message"]
    assert list(UsageEvent.objects.values_list("event_id", flat=True)) == ["good"]
    return payload["rejected"][0]


@pytest.mark.parametrize(
    "field,value",
    [
        ("id", "evt\u0000x"),
        ("customer", "ac\u0000me"),
        ("meter", "llm\u0000"),
        ("id", "evt\ud800"),
        ("customer", "\udfffacme"),
        ("meter", "llm.input_tokens\ud800"),
    ],
)
def test_nul_and_lone_surrogates_in_fields_reject_only_that_event(setup, field, value):
    world, tokens, acme, key = setup
    bad = {**good_event(world, tokens, acme, "bad"), field: value}
    rejection = assert_one_rejected(post_raw(key, batch_with(world, tokens, acme, bad)))
    assert "character" in rejection["message"]


@pytest.mark.parametrize(
    "attributes",
    [
        {"user": "u\u0000"},
        {"u\u0000ser": "x"},
        {"user": {"deep": ["\u0000"]}},
        {"user": "\ud800"},
        {"\udbff": "x"},
    ],
)
def test_nul_and_lone_surrogates_in_attributes_reject_only_that_event(setup, attributes):
    world, tokens, acme, key = setup
    bad = {**good_event(world, tokens, acme, "bad"), "attributes": attributes}
    assert_one_rejected(post_raw(key, batch_with(world, tokens, acme, bad)))


def test_a_backslash_u0000_text_is_not_a_nul(setup):
    world, tokens, acme, key = setup
    event = {**good_event(world, tokens, acme), "attributes": {"user": "\\u0000"}}
    assert post_raw(key, json.dumps({"events": [event]}).encode()).json()["ingested"] == 1
    assert UsageEvent.objects.get().attributes == {"user": "\\u0000"}


@pytest.mark.parametrize(
    "timestamp",
    ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59Z"],
)
def test_extreme_timestamps_reject_only_that_event(setup, timestamp):
    world, tokens, acme, key = setup
    bad = {**good_event(world, tokens, acme, "bad"), "timestamp": timestamp}
    response = post_raw(key, batch_with(world, tokens, acme, bad))
    assert response.status_code == 200
    payload = response.json()
    assert payload["ingested"] == 1 and len(payload["rejected"]) == 1
    assert payload["rejected"][0]["code"] in {"invalid", "timestamp_in_future", "timestamp_too_old"}


@pytest.mark.parametrize("quantity", ["١٢", "１２", "1_000", " 12", "12\n", "+-1", "0x10", "١"])
def test_quantities_must_be_plain_ascii_decimals(setup, quantity):
    world, tokens, acme, key = setup
    bad = {**good_event(world, tokens, acme, "bad"), "quantity": quantity}
    assert_one_rejected(post_raw(key, batch_with(world, tokens, acme, bad)), code="invalid_quantity")


@pytest.mark.parametrize("quantity", ["12", "12.5", "0", "1e3", "1E+2", ".5", "5."])
def test_plain_decimal_strings_are_still_accepted(setup, quantity):
    world, tokens, acme, key = setup
    event = {**good_event(world, tokens, acme), "quantity": quantity}
    assert post_raw(key, json.dumps({"events": [event]}).encode()).json()["ingested"] == 1


def test_attributes_nested_tens_of_thousands_deep_is_a_400(setup):
    world, tokens, acme, key = setup
    deep = "[" * 50_000 + "]" * 50_000
    event = json.dumps(good_event(world, tokens, acme, "bad"))[:-1] + f', "attributes": {{"x": {deep}}}}}'
    body = f'{{"events": [{json.dumps(good_event(world, tokens, acme))}, {event}]}}'.encode()
    response = post_raw(key, body)
    assert response.status_code == 400
    assert (
        response.json()["code"] == "too_deep"
        and str(getattr(ingestion, "MAX_BODY_DEPTH", 32)) in response.json()["message"]
    )


def test_nesting_just_past_the_limit_is_a_400_and_within_it_lands(setup):
    world, tokens, acme, key = setup

    # root object > events list > event > attributes object: depth 4 before the attribute's own value.
    def body(levels):
        value = "1"
        for _ in range(levels):
            value = f"[{value}]"
        event = json.dumps(good_event(world, tokens, acme))[:-1] + f', "attributes": {{"x": {value}}}}}'
        return f'{{"events": [{event}]}}'.encode()

    assert post_raw(key, body(getattr(ingestion, "MAX_BODY_DEPTH", 32) - 4 + 1)).json()["code"] == "too_deep"
    response = post_raw(key, body(getattr(ingestion, "MAX_BODY_DEPTH", 32) - 4))
    assert response.status_code == 200 and response.json()["ingested"] == 1


def test_a_chunked_body_over_the_cap_is_413(setup):
    world, tokens, acme, key = setup
    events = [world.event(acme, tokens, 1, ago(minutes=1), note="x" * 200) for _ in range(20)]
    data = json.dumps({"events": events}).encode()
    with override_settings(RATEDESK={**settings.RATEDESK, "USAGE_MAX_BODY_BYTES": 1000}):
        # Transfer-Encoding: chunked has no Content-Length; the server hands the decoded stream to the app.
        response = post_raw(
            key, data, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input": io.BytesIO(data)}
        )
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert UsageEvent.objects.count() == 0


def test_a_chunked_body_within_the_cap_lands(setup):
    world, tokens, acme, key = setup
    data = json.dumps({"events": [good_event(world, tokens, acme)]}).encode()
    response = post_raw(
        key, data, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input": io.BytesIO(data)}
    )
    assert response.status_code == 200 and response.json()["ingested"] == 1
