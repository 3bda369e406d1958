"""POST /api/v1/events: the binding ingestion contract (DESIGN.md)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.core.roles import Cap
from apps.core.services import api_key_create, api_key_revoke
from apps.usage.models import RatedUsage, UsageEvent
from apps.wallets.selectors import wallet_balance
from tests.usage.builders import ago, rate

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"


@pytest.fixture
def setup(world):
    tokens = world.meter("llm.input_tokens")
    table = world.table()
    world.version(table, {tokens: "0.001"}, effective_from=ago(days=60))
    acme = world.customer("acme", table, credits="1000")
    return world, tokens, acme


@pytest.fixture
def key():
    return api_key_create(name="ingest", actor=SYSTEM)


def post(raw_key, body, client=None):
    client = client or Client()
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"} if raw_key else {}
    return client.post(URL, data=data, content_type="application/json", **headers)


def test_design_example_lands_and_records_the_key(setup, key):
    world, tokens, acme = setup
    ts = (timezone.now() - timedelta(minutes=1)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    body = {
        "events": [
            {
                "id": "evt-1",
                "customer": "acme",
                "meter": "llm.input_tokens",
                "quantity": "1500",
                "timestamp": ts,
                "attributes": {"user": "u-7", "agent": "summarizer", "team": "legal"},
            }
        ]
    }
    response = post(key.raw_key, body)
    assert response.status_code == 200
    assert response.json() == {"ingested": 1, "duplicates": 0, "rejected": []}
    event = UsageEvent.objects.get()
    assert event.api_key_id == key.api_key.pk and event.quantity == 1500 and event.attributes["agent"] == "summarizer"
    assert event.state == UsageEvent.State.PENDING


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Bearer rd_00000000_secret", "Token abc"])
def test_no_or_bad_key_is_401(setup, header):
    client = Client()
    kwargs = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.post(URL, data=json.dumps({"events": []}), content_type="application/json", **kwargs)
    assert response.status_code == 401
    assert set(response.json()) >= {"message", "code"}


def test_revoked_key_is_401(setup, key):
    api_key_revoke(api_key_id=key.api_key.pk, actor=SYSTEM)
    assert post(key.raw_key, {"events": []}).status_code == 401


def test_key_without_ingest_scope_and_people_are_refused(setup, clients):
    narrow = api_key_create(name="read only", actor=SYSTEM, scopes=frozenset({Cap.USAGE_VIEW}))
    assert post(narrow.raw_key, {"events": [{}]}).status_code == 403
    response = clients["owner"].post(URL, data=json.dumps({"events": [{}]}), content_type="application/json")
    assert response.status_code == 403
    assert UsageEvent.objects.count() == 0


@pytest.mark.parametrize(
    "body,code",
    [
        (b"not json", "invalid_json"),
        (b'{"events": [', "invalid_json"),
        ({"event": []}, "invalid_body"),
        ({"events": {"id": 1}}, "invalid_body"),
        ({"events": []}, "invalid_body"),
        ([{"id": "x"}], "invalid_body"),
    ],
)
def test_malformed_body_is_400_with_message_and_code(setup, key, body, code):
    response = post(key.raw_key, body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == code and payload["message"]


def test_more_than_1000_events_is_400(setup, key):
    world, tokens, acme = setup
    events = [world.event(acme, tokens, 1, ago(minutes=1)) for _ in range(1001)]
    response = post(key.raw_key, {"events": events})
    assert response.status_code == 400 and response.json()["code"] == "too_many_events"
    assert UsageEvent.objects.count() == 0
    response = post(key.raw_key, {"events": events[:1000]})
    assert response.status_code == 200 and response.json()["ingested"] == 1000


def test_body_size_cap(setup, key):
    world, tokens, acme = setup
    events = [world.event(acme, tokens, 1, ago(minutes=1), note="x" * 200) for _ in range(20)]
    with override_settings(RATEDESK={**settings.RATEDESK, "USAGE_MAX_BODY_BYTES": 1000}):
        response = post(key.raw_key, {"events": events})
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert UsageEvent.objects.count() == 0


def test_each_rejection_code_and_the_rest_lands(setup, key):
    world, tokens, acme = setup
    good = world.event(acme, tokens, 10, ago(minutes=5), id="good")
    events = [
        good,
        {"id": "", "customer": "acme", "meter": tokens.code, "quantity": "1", "timestamp": ago(minutes=1).isoformat()},
        {**world.event(acme, tokens, 1, ago(minutes=1)), "customer": "nobody"},
        {**world.event(acme, tokens, 1, ago(minutes=1)), "meter": "no.such.meter"},
        {**world.event(acme, tokens, 1, ago(minutes=1)), "quantity": "-1"},
        world.event(acme, tokens, 1, timezone.now() + timedelta(minutes=6)),
        world.event(acme, tokens, 1, ago(days=36)),
        {**good, "quantity": "11"},  # same id, different payload
        "not an object",
        {**world.event(acme, tokens, 1, ago(minutes=1)), "timestamp": "2026-11-20 10:00:00"},  # no zone
    ]
    response = post(key.raw_key, {"events": events})
    assert response.status_code == 200
    payload = response.json()
    assert payload["ingested"] == 1 and payload["duplicates"] == 0
    codes = {r["index"]: r["code"] for r in payload["rejected"]}
    assert codes == {
        1: "invalid",
        2: "unknown_customer",
        3: "unknown_meter",
        4: "invalid_quantity",
        5: "timestamp_in_future",
        6: "timestamp_too_old",
        7: "idempotency_conflict",
        8: "invalid",
        9: "invalid",
    }
    for rejection in payload["rejected"]:
        assert set(rejection) == {"index", "id", "code", "message"} and rejection["message"]
    assert payload["rejected"][0]["id"] == ""
    assert list(UsageEvent.objects.values_list("event_id", flat=True)) == ["good"]


@pytest.mark.parametrize(
    "quantity", ["NaN", "abc", "1e400", "-0.5", "1.0000000000001", True, None, [], "Infinity", "1000000000000000000"]
)
def test_invalid_quantities(setup, key, quantity):
    world, tokens, acme = setup
    event = {**world.event(acme, tokens, 1, ago(minutes=1)), "quantity": quantity}
    payload = post(key.raw_key, {"events": [event]}).json()
    assert payload["ingested"] == 0 and payload["rejected"][0]["code"] == "invalid_quantity"


def test_json_number_quantities_are_exact_decimals(setup, key):
    world, tokens, acme = setup
    body = json.dumps(
        {
            "events": [
                {**world.event(acme, tokens, 0, ago(minutes=1), id="a"), "quantity": 0.1},
                {**world.event(acme, tokens, 0, ago(minutes=1), id="b"), "quantity": 7},
            ]
        }
    )
    assert post(key.raw_key, body.encode()).json()["ingested"] == 2
    assert UsageEvent.objects.get(event_id="a").quantity == Decimal("0.1")
    assert UsageEvent.objects.get(event_id="b").quantity == 7


def test_nan_literal_is_rejected_not_a_500(setup, key):
    world, tokens, acme = setup
    event = json.dumps(world.event(acme, tokens, 1, ago(minutes=1))).replace('"1"', "NaN")
    payload = post(key.raw_key, f'{{"events": [{event}]}}'.encode()).json()
    assert payload["rejected"][0]["code"] == "invalid_quantity"


def test_same_batch_twice_is_counted_as_duplicates_and_charged_once(setup, key):
    world, tokens, acme = setup
    events = [world.event(acme, tokens, 100, ago(minutes=10 - i)) for i in range(5)]
    first = post(key.raw_key, {"events": events}).json()
    second = post(key.raw_key, {"events": events}).json()
    assert first == {"ingested": 5, "duplicates": 0, "rejected": []}
    assert second == {"ingested": 0, "duplicates": 5, "rejected": []}
    # The same id twice in one request, same payload: one stored, one duplicate.
    again = world.event(acme, tokens, 3, ago(minutes=1), id="twice")
    assert post(key.raw_key, {"events": [again, again]}).json() == {"ingested": 1, "duplicates": 1, "rejected": []}
    rate()
    assert UsageEvent.objects.count() == 6 and RatedUsage.objects.count() == 6
    assert sum(r.amount for r in RatedUsage.objects.all()) == Decimal("0.503")
    assert wallet_balance(customer_id=acme.pk).balance == Decimal("1000") - Decimal("0.503")


def test_same_id_different_payload_is_a_conflict_and_keeps_the_first(setup, key):
    world, tokens, acme = setup
    event = world.event(acme, tokens, 100, ago(minutes=3), id="evt-9", user="u1")
    post(key.raw_key, {"events": [event]})
    for changed in (
        {**event, "quantity": "101"},
        {**event, "attributes": {"user": "u2"}},
        {**event, "timestamp": ago(minutes=2).isoformat()},
    ):
        payload = post(key.raw_key, {"events": [changed]}).json()
        assert payload["ingested"] == 0 and payload["rejected"][0]["code"] == "idempotency_conflict"
    # Equivalent spellings of the same payload are duplicates, not conflicts.
    same = {**event, "quantity": "100.000", "timestamp": event["timestamp"].replace("+00:00", "Z")}
    assert post(key.raw_key, {"events": [same]}).json()["duplicates"] == 1
    assert UsageEvent.objects.get().quantity == 100
