"""Property tests for POST /api/v1/events: whatever JSON arrives (any structure, any unicode, lone surrogates and
NUL included), the answer is never a 5xx; and in a batch mixing valid events with junk, every valid event is stored
(with its quantity) while the junk is rejected one by one."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.actors import SYSTEM
from apps.core.services import api_key_create
from apps.usage.models import UsageEvent
from tests.usage.builders import ago

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

# Every code point, surrogates (Cs) and NUL included; json.dumps escapes what UTF-8 cannot carry.
any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12)
storable_text = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=12
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
)
# Values known to have broken ingestion, mixed into the generated ones so every run meets them.
hostile = st.sampled_from(
    [
        "a\x00b",
        "\x00",
        "\ud800",
        "x\udfff",
        "١٢",
        "１２",
        "1_000",
        " 12",
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-23:59",
        "9999-12-31T23:59:59Z",
    ]
)
hostile_text = hostile | any_text
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4), max_leaves=16
)


@pytest.fixture
def api(world):
    tokens = world.meter("llm.input_tokens")
    table = world.table()
    world.version(table, {tokens: "0.001"}, effective_from=ago(days=60))
    world.customer("acme", table, credits="1000000")
    key = api_key_create(name="fuzz", actor=SYSTEM)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client, tokens


def post(client, body) -> object:
    return client.post(URL, data=json.dumps(body, default=str).encode(), content_type="application/json")


def assert_answer(response):
    assert response.status_code < 500, response.content[:500]
    payload = response.json()
    assert ("ingested" in payload) or ({"message", "code"} <= set(payload))
    return payload


@FUZZ
@given(body=json_values | st.fixed_dictionaries({"events": st.lists(json_values, min_size=1, max_size=6)}))
def test_any_json_body_is_answered_without_a_server_error(api, body):
    client, _ = api
    assert_answer(post(client, body))


@FUZZ
@given(raw=st.binary(max_size=200))
def test_any_bytes_are_answered_without_a_server_error(api, raw):
    client, _ = api
    response = client.post(URL, data=raw, content_type="application/json")
    assert response.status_code < 500


_ids = itertools.count()


@st.composite
def valid_event(draw, meter_code: str):
    quantity = draw(
        st.decimals(min_value=0, max_value=10**9, places=draw(st.integers(0, 6)), allow_nan=False, allow_infinity=False)
    )
    return {
        "id": f"v-{next(_ids)}-{draw(storable_text)}",
        "customer": "acme",
        "meter": meter_code,
        "quantity": draw(st.sampled_from([str(quantity), format(quantity, "f")])) if quantity % 1 else int(quantity),
        "timestamp": ago(minutes=draw(st.integers(1, 60 * 24))).isoformat(),
        "attributes": draw(st.dictionaries(storable_text, storable_text, max_size=3)),
    }


@st.composite
def junk_event(draw, meter_code: str):
    base = draw(valid_event(meter_code))
    base["id"] = f"j-{next(_ids)}"
    field = draw(st.sampled_from(["id", "customer", "meter", "quantity", "timestamp", "attributes", None]))
    if field is None:
        return draw(json_values)  # not even an object, or an arbitrary one
    if field == "attributes":
        base[field] = draw(
            st.dictionaries(hostile_text, hostile_text | json_values, min_size=1, max_size=3) | json_values
        )
    else:
        base[field] = draw(hostile | json_values)
    return base


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_valid_event_in_a_mixed_batch_is_stored(api, data):
    client, tokens = api
    valid = data.draw(st.lists(valid_event(tokens.code), min_size=1, max_size=8))
    junk = data.draw(st.lists(junk_event(tokens.code), max_size=8))
    batch = data.draw(st.permutations(valid + junk))
    payload = assert_answer(post(client, {"events": batch}))
    assert "ingested" in payload, payload
    stored = dict(UsageEvent.objects.filter(event_id__in=[e["id"] for e in valid]).values_list("event_id", "quantity"))
    for event in valid:
        assert stored.get(event["id"]) == Decimal(str(event["quantity"])), (event, payload["rejected"])
    rejected_ids = {r["id"] for r in payload["rejected"]}
    assert not rejected_ids & {e["id"] for e in valid}
