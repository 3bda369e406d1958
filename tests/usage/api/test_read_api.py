"""Read APIs: usage per meter (end inclusive), entitlements (no event scan), statement CSV, meters, schema/docs."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.core.services import api_key_create
from tests.usage.builders import ago, ingest, rate

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(world):
    key = api_key_create(name="reader", actor=SYSTEM, scopes=frozenset({"read", "margin"}))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    tokens = world.meter("llm.input_tokens", cost="0.001")
    images = world.meter("image.generations", unit="image", cost="0.02")
    table = world.table(unit="credits")
    world.version(table, {tokens: {"price": "0.5", "per": "1000"}, images: "2"}, effective_from=ago(days=60))
    acme = world.customer("acme", table, credits="100", allowances={tokens: "1000"}, enforcement="hard")
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    events = [
        world.event(acme, tokens, 3000, today - timedelta(days=2) + timedelta(hours=1), user="u1"),
        world.event(acme, tokens, 2000, today - timedelta(days=1) + timedelta(hours=1), agent="bot"),
        world.event(acme, images, 4, today - timedelta(days=1) + timedelta(hours=2)),
    ]
    ingest(events)
    rate()
    return {"client": client, "acme": acme, "tokens": tokens, "images": images, "today": today, "world": world}


def test_usage_per_meter_with_end_inclusive(api):
    client, today = api["client"], api["today"]
    start = (today - timedelta(days=2)).date().isoformat()
    end = (today - timedelta(days=1)).date().isoformat()
    response = client.get(f"/api/v1/customers/acme/usage?start={start}&end={end}")
    assert response.status_code == 200
    assert response.json() == {
        "customer": "acme",
        "start": start,
        "end": end,
        "meters": [
            {"meter": "image.generations", "quantity": "4", "credits": "8", "amount": "8", "cost": "0.08"},
            {"meter": "llm.input_tokens", "quantity": "5000", "credits": "2", "amount": "2", "cost": "5"},
        ],
    }
    only_first_day = client.get(f"/api/v1/customers/acme/usage?start={start}&end={start}&meter=llm.input_tokens")
    assert only_first_day.json()["meters"] == [
        {"meter": "llm.input_tokens", "quantity": "3000", "credits": "1", "amount": "1", "cost": "3"}
    ]


@pytest.mark.parametrize(
    "query,code",
    [
        ("start=2026-13-01&end=2026-01-01", "invalid"),
        ("start=2026-02-01&end=2026-01-01", "invalid"),
        ("start=2025-01-01&end=2026-12-31", "invalid"),
        ("meter=nope", "unknown_meter"),
    ],
)
def test_usage_bad_queries_are_400(api, query, code):
    response = api["client"].get(f"/api/v1/customers/acme/usage?{query}")
    assert response.status_code == 400 and response.json()["code"] == code


def test_unknown_customer_is_404(api):
    for url in (
        "/api/v1/customers/nobody/usage",
        "/api/v1/customers/nobody/entitlements/llm.input_tokens",
        "/api/v1/customers/nobody/statement",
    ):
        response = api["client"].get(url)
        assert response.status_code == 404 and response.json()["code"] == "unknown_customer"


def test_entitlements_follow_allowance_balance_and_policy_without_scanning_events(api):
    client, world, acme, tokens = api["client"], api["world"], api["acme"], api["tokens"]
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/customers/acme/entitlements/llm.input_tokens")
    assert response.status_code == 200
    assert response.json() == {
        "allowed": True,
        "reason": "balance_available",
        "policy": "hard",
        "balance": "90",
        "included_remaining": "0",
    }
    assert not any("usage_event" in q["sql"] or "usage_rated" in q["sql"] for q in queries.captured_queries)
    # Spend the rest: hard policy refuses at zero.
    ingest([world.event(acme, tokens, 500_000, ago(minutes=1))])
    rate()
    body = client.get("/api/v1/customers/acme/entitlements/llm.input_tokens").json()
    assert body == {
        "allowed": False,
        "reason": "balance_exhausted",
        "policy": "hard",
        "balance": "0",
        "included_remaining": "0",
    }
    assert client.get("/api/v1/customers/acme/entitlements/no.such").status_code == 404


def test_entitlement_reasons(world):
    from apps.usage.selectors import entitlement

    tokens = world.meter("tok")
    unpriced = world.meter("unpriced")
    table = world.table()
    world.version(table, {tokens: "1"}, effective_from=ago(days=60))
    fresh = world.customer("fresh", table, allowances={tokens: "10"})
    soft = world.customer("soft", table, enforcement="soft", overdraft_limit="5")
    unlimited = world.customer("unl", table, enforcement="unlimited")
    post = world.customer("post", table, billing_model="postpaid", enforcement="soft", overdraft_limit="3")
    nothing = world.customer("nothing", table, starts_at=timezone.now() + timedelta(days=1))
    assert entitlement(customer_id=fresh.pk, meter_id=tokens.id).reason == "included_remaining"
    assert entitlement(customer_id=fresh.pk, meter_id=tokens.id).included_remaining == 10
    assert entitlement(customer_id=fresh.pk, meter_id=unpriced.id).reason == "not_in_rate_table"
    assert entitlement(customer_id=soft.pk, meter_id=tokens.id).reason == "within_overdraft"
    assert entitlement(customer_id=unlimited.pk, meter_id=tokens.id).reason == "unlimited"
    assert entitlement(customer_id=post.pk, meter_id=tokens.id).reason == "within_spend_limit"
    assert entitlement(customer_id=nothing.pk, meter_id=tokens.id).as_api()["allowed"] is False
    ingest([world.event(c, tokens, 6, ago(minutes=1)) for c in (soft, post)])
    rate()
    assert entitlement(customer_id=soft.pk, meter_id=tokens.id).reason == "overdraft_limit_reached"
    assert entitlement(customer_id=post.pk, meter_id=tokens.id).reason == "spend_limit_reached"


def test_statement_csv_one_line_per_meter(api):
    client, today = api["client"], api["today"]
    start = (today - timedelta(days=2)).date().isoformat()
    end = today.date().isoformat()
    response = client.get(f"/api/v1/customers/acme/statement?start={start}&end={end}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert (
        f'filename="statement-acme-{start.replace("-", "")}-{end.replace("-", "")}.csv"'
        in response["Content-Disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["meter"] for r in rows] == ["image.generations", "llm.input_tokens"]
    tokens = rows[1]
    assert (tokens["quantity"], tokens["included"], tokens["from_credits"], tokens["overage"]) == (
        "5000",
        "1000",
        "4000",
        "0",
    )
    assert (tokens["unit_price"], tokens["amount"], tokens["credits"], tokens["cost"]) == (
        "0.0005",
        "2.00",
        "2.00",
        "5.00",
    )
    assert rows[0]["amount"] == "8.00" and rows[0]["pricing_unit"] == "credits" and rows[0]["events"] == "1"


def test_meters_list_is_a_drf_page(api):
    response = api["client"].get("/api/v1/meters")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and {"next", "previous", "results"} <= set(body)
    assert body["results"][0] == {
        "code": "image.generations",
        "name": "Image Generations",
        "unit": "image",
        "aggregation": "sum",
    }


def test_read_apis_need_a_key_with_usage_view(api):
    from apps.core.roles import Cap

    ingest_only = api_key_create(name="ingest only", actor=SYSTEM, scopes=frozenset({Cap.USAGE_INGEST}))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {ingest_only.raw_key}")
    assert client.get("/api/v1/customers/acme/usage").status_code == 403
    assert client.get("/api/v1/customers/acme/statement").status_code == 403
    assert Client().get("/api/v1/customers/acme/usage").status_code == 401


def test_schema_and_docs_work_offline(clients):
    schema = clients["owner"].get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in (
        "/api/v1/events",
        "/api/v1/meters",
        "/api/v1/customers/{external_id}/usage",
        "/api/v1/customers/{external_id}/entitlements/{meter}",
        "/api/v1/customers/{external_id}/statement",
    ):
        assert path in text
    docs = clients["owner"].get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
