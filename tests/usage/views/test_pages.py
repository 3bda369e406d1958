"""Usage pages: the permission matrix, and what each role sees (costs only with margin rights)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest

from apps.usage.models import RatedUsage, RatingBatch, UsageEvent
from tests.usage.builders import ago, ingest, rate

pytestmark = pytest.mark.django_db

ALLOWED = ["owner", "finance", "am", "support"]
REFUSED = ["admin"]


@pytest.fixture
def charged(world):
    tokens = world.meter("llm.input_tokens", cost="0.0001")
    table = world.table(unit="credits")
    world.version(
        table,
        {tokens: {"model": "graduated", "tiers": [(1000, "0.01", "0"), (None, "0.005", "0")]}},
        effective_from=ago(days=60),
    )
    acme = world.customer(
        "acme",
        table,
        credits="500",
        price_per_credit="0.2",
        allowances={tokens: "100"},
        overrides={tokens: ("multiplier", "0.9")},
    )
    ingest(
        [
            world.event(acme, tokens, 800, ago(hours=2), id="evt-1", user="u-7", agent="summarizer"),
            world.event(acme, tokens, 800, ago(hours=1), id="evt-2", user="u-8"),
        ]
    )
    rate()
    record = RatedUsage.objects.get(event_ref="evt-2")
    return {"record": record, "acme": acme, "tokens": tokens}


def urls(charged):
    r = charged["record"]
    return [
        "/usage/",
        f"/usage/events/{r.event_id}/",
        f"/usage/batches/{r.batch_id}/",
        "/usage/customers/acme/panel/",
        "/usage/customers/acme/statement/",
        "/usage/customers/acme/statement.csv",
        f"/usage/customers/acme/{r.day.isoformat()}/llm.input_tokens/",
    ]


@pytest.mark.parametrize("role", ALLOWED + REFUSED + ["anonymous"])
def test_permission_matrix(clients, charged, role):
    for url in urls(charged):
        response = clients[role].get(url)
        if role == "anonymous":
            assert response.status_code == 302 and "/login/" in response["Location"], url
        elif role in REFUSED:
            assert response.status_code == 403, url
        else:
            assert response.status_code == 200, url


def test_why_this_charge_walks_from_event_to_approval_tier_and_grants(clients, charged):
    record = charged["record"]
    html = clients["am"].get(f"/usage/events/{record.event_id}/").content.decode()
    assert "Why this charge" in html and "evt-2" in html
    # second event: positions 800..1600 -> 200 at tier 1 and 600 at tier 2, x0.9
    assert (record.prior_quantity, record.tier, record.amount) == (800, 2, Decimal("4.5"))  # (2 + 3) x 0.9
    assert "× 0.9 of list price" in html
    assert "Approved" in html and "finance" in html.lower()
    assert f"#{record.allocations[0]['grant_id']}" in html
    assert "Cost" not in html  # account managers do not see costs
    owner_html = clients["owner"].get(f"/usage/events/{record.event_id}/").content.decode()
    assert "Cost" in owner_html and "Revenue" in owner_html


def test_pending_and_unknown_events(clients, charged, world):
    ingest([world.event(charged["acme"], charged["tokens"], 1, ago(minutes=1), id="waiting")])
    waiting = UsageEvent.objects.get(event_id="waiting")
    assert "waiting to be rated" in clients["am"].get(f"/usage/events/{waiting.pk}/").content.decode()
    assert clients["am"].get("/usage/events/999999/").status_code == 404
    assert clients["am"].get("/usage/customers/nobody/panel/").status_code == 404
    assert clients["am"].get("/usage/customers/acme/not-a-day/llm.input_tokens/").status_code == 404


def test_lookup_form_redirects_to_the_event(clients, charged):
    response = clients["support"].get("/usage/", {"customer": "acme", "event_id": "evt-1"})
    assert response.status_code == 302 and response["Location"].startswith("/usage/events/")
    missing = clients["support"].get("/usage/", {"customer": "acme", "event_id": "nope"})
    assert missing.status_code == 404 and "No event with that id" in missing.content.decode()


def test_bucket_page_groups_by_version_and_tier(clients, charged):
    record = charged["record"]
    html = clients["finance"].get(f"/usage/customers/acme/{record.day.isoformat()}/llm.input_tokens/").content.decode()
    assert "How it was priced" in html and "v1" in html


def test_customer_panel_is_an_htmx_fragment_and_registered_on_the_customer_page(clients, charged):
    partial = clients["am"].get("/usage/customers/acme/panel/", HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    assert "statement" in partial.content.decode().lower()
    page = clients["am"].get("/customers/acme/")
    assert page.status_code == 200 and "/usage/customers/acme/panel/" in page.content.decode()


def test_statement_csv_hides_cost_without_margin_rights(clients, charged):
    am_rows = list(
        csv.DictReader(io.StringIO(clients["am"].get("/usage/customers/acme/statement.csv").content.decode()))
    )
    owner_rows = list(
        csv.DictReader(io.StringIO(clients["owner"].get("/usage/customers/acme/statement.csv").content.decode()))
    )
    assert "cost" not in am_rows[0] and owner_rows[0]["cost"] == "0.16"
    assert am_rows[0]["amount"] == owner_rows[0]["amount"]


def test_batch_page_shows_a_rerate_difference(clients, charged):
    from django.utils import timezone

    from apps.core.actors import SYSTEM
    from apps.usage.services import usage_rerate

    summary = usage_rerate(start=ago(days=1), end=timezone.now() + timedelta(minutes=1), actor=SYSTEM)
    html = clients["finance"].get(f"/usage/batches/{summary.batch_id}/").content.decode()
    assert "Difference" in html
    assert RatingBatch.objects.filter(kind="rerate").count() == 1
