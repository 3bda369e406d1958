"""Dashboard pages: allowed or refused per role, range updated in place, CSV behind every chart, empty states that
say why, chart figures with titles and axis titles, bounded query counts whatever the amount of usage."""

import csv
import io
import json
import re

import pytest
from django.urls import reverse

from apps.insights import charts
from apps.insights import selectors as ds
from tests.alerts.builders import ago, ingest_and_rate

pytestmark = pytest.mark.django_db

MARGIN = {"owner", "owner2", "finance", "finance2"}
USAGE = {"owner", "owner2", "finance", "finance2", "am", "support"}
ROLES = ["owner", "owner2", "finance", "finance2", "am", "support", "admin", "anonymous"]


@pytest.fixture
def acme(shop, users, django_capture_on_commit_callbacks):
    customer = shop.customer("acme", credits="5000", manager=users["am"], allowances={shop.tokens: 100_000})
    events = [
        shop.event(customer, shop.tokens, 9_000, ago(days=d, hours=2), user=f"u-{d % 4}", agent="copilot")
        for d in range(10)
    ]
    events += [shop.event(customer, shop.images, 4, ago(days=d, hours=3), team="design") for d in range(10)]
    ingest_and_rate(events, django_capture_on_commit_callbacks)
    return customer


def _pages(acme):
    ext = acme.external_id
    return [
        (reverse("dashboards:overview"), MARGIN),
        (reverse("dashboards:overview-csv", args=["money"]), MARGIN),
        (reverse("dashboards:overview-csv", args=["top-customers"]), MARGIN),
        (reverse("dashboards:margin"), MARGIN),
        (reverse("dashboards:margin-csv"), MARGIN),
        (reverse("dashboards:panel-consumption"), MARGIN),
        (reverse("dashboards:panel-money"), MARGIN),
        (reverse("dashboards:panel-margin"), MARGIN),
        (reverse("dashboards:panel-top-customers"), MARGIN),
        (reverse("dashboards:customer", args=[ext]), USAGE),
        (reverse("dashboards:customer-csv", args=[ext, "usage"]), USAGE),
        (reverse("dashboards:customer-panel", args=[ext]), USAGE),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_each_page_allowed_or_refused_per_role(clients, acme, role):
    for url, allowed in _pages(acme):
        response = clients[role].get(url)
        if role == "anonymous":
            assert response.status_code == 302 and "/login/" in response["Location"], url
        elif role in allowed:
            assert response.status_code == 200, (role, url)
        else:
            assert response.status_code == 403, (role, url)


def _figures(html: str) -> dict[str, dict]:
    found = re.findall(r'<script type="application/json" id="chart-data-([\w-]+)">(.*?)</script>', html, re.S)
    return {key: json.loads(body) for key, body in found}


def test_customer_page_charts_have_titles_axes_and_csv(clients, acme, shop):
    html = clients["am"].get(reverse("dashboards:customer", args=["acme"]), {"range": "30"}).content.decode()
    figures = _figures(html)
    assert {
        "included",
        "usage",
        "balance",
        "credits",
        "attribution-user",
        "attribution-agent",
        "attribution-team",
    } <= set(figures)
    for key, fig in figures.items():
        layout = fig["layout"]
        assert layout["title"]["text"], key
        titled_axes = [
            v["title"]["text"]
            for k, v in layout.items()
            if k.startswith(("xaxis", "yaxis")) and isinstance(v, dict) and v.get("title", {}).get("text")
        ]
        assert titled_axes, key
    assert figures["usage"]["layout"]["yaxis"]["title"]["text"] == "images"  # a unit, per meter
    assert figures["balance"]["layout"]["yaxis"]["title"]["text"] == "Balance (credits)"
    assert "plotly-4.1.2.min.js" in html and "cdn" not in html.lower()
    # empty state with the reason: no alert fired yet
    assert "No alert fired for this customer last 30 days." in html
    for key in ("usage", "included", "balance", "credits", "attribution-user", "alerts"):
        response = clients["am"].get(reverse("dashboards:customer-csv", args=["acme", key]), {"range": "30"})
        assert response["Content-Type"].startswith("text/csv") and response.status_code == 200
        assert list(csv.reader(io.StringIO(response.content.decode())))[0]
    rows = list(
        csv.DictReader(
            io.StringIO(
                clients["am"]
                .get(reverse("dashboards:customer-csv", args=["acme", "usage"]), {"range": "30"})
                .content.decode()
            )
        )
    )
    assert sum(int(r["events"]) for r in rows) == 20
    assert {r["meter"] for r in rows} == {shop.tokens.code, shop.images.code}


def test_cost_is_hidden_from_roles_without_margin(clients, acme):
    am = clients["am"].get(reverse("dashboards:customer-csv", args=["acme", "attribution-user"])).content.decode()
    owner = clients["owner"].get(reverse("dashboards:customer-csv", args=["acme", "attribution-user"])).content
    assert "cost" not in am.splitlines()[0] and "cost" in owner.decode().splitlines()[0]


def test_range_is_updated_in_place(clients, acme):
    url = reverse("dashboards:customer", args=["acme"])
    partial = clients["am"].get(url, {"range": "7"}, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial and 'id="chart-data-usage"' in partial and "last 7 days" in partial
    custom = (
        clients["am"]
        .get(url, {"range": "custom", "start": "2026-01-01", "end": "2026-01-10"}, headers={"HX-Request": "true"})
        .content.decode()
    )
    assert "No rated usage Jan 1, 2026 – Jan 10, 2026" in custom
    bad = clients["am"].get(url, {"range": "custom", "start": "2026-01-10", "end": "2026-01-01"}).content.decode()
    assert "The end date is before the start date." in bad


def test_overview_and_margin_render_and_flag_below_cost(clients, actors, django_capture_on_commit_callbacks):
    from tests.alerts.builders import Shop

    shop = Shop(actors, usd_token_price="0.000005")  # tokens sold at half their cost
    cheap = shop.customer("cheap", billing_model="postpaid", enforcement="unlimited")
    ingest_and_rate(
        [shop.event(cheap, shop.tokens, 100_000, ago(hours=2)), shop.event(cheap, shop.images, 5, ago(hours=2))],
        django_capture_on_commit_callbacks,
    )
    html = clients["finance"].get(reverse("dashboards:overview")).content.decode()
    figures = _figures(html)
    assert {"consumption", "money", "margin-by-meter"} <= set(figures)
    bars = figures["margin-by-meter"]["data"][0]
    colours = dict(zip(bars["y"], bars["marker"]["color"], strict=False))
    assert colours[shop.tokens.code] == charts.NEGATIVE and colours[shop.images.code] == charts.POSITIVE
    assert "below cost" in html
    margin = clients["owner"].get(reverse("dashboards:margin")).content.decode()
    assert "Below cost last 30 days" in margin and shop.tokens.code in margin
    assert 'class="below-cost"' in margin
    why = reverse("usage:bucket-why", args=["cheap", ago(hours=2).date().isoformat(), shop.tokens.code])
    assert why in margin
    table = (
        clients["owner"]
        .get(reverse("dashboards:margin"), {"sort": "-billed", "part": "table"}, headers={"HX-Request": "true"})
        .content.decode()
    )
    assert "<html" not in table and "Billed ▼" in table
    rows = list(csv.DictReader(io.StringIO(clients["owner"].get(reverse("dashboards:margin-csv")).content.decode())))
    assert {r["meter"]: r["margin_pct"] for r in rows} == {shop.tokens.code: "-100", shop.images.code: "60"}


def test_empty_states_say_why(clients, db):
    html = clients["owner"].get(reverse("dashboards:overview")).content.decode()
    assert "No rated usage last 30 days. Usage appears here once events are ingested and rated." in html
    assert "No revenue or cost last 30 days" in html
    margin = clients["owner"].get(reverse("dashboards:margin")).content.decode()
    assert "No charged usage last 30 days, so there is no margin to show." in margin


def test_postpaid_customer_without_wallet(clients, shop):
    shop.customer("post", billing_model="postpaid", enforcement="unlimited")
    html = clients["am"].get(reverse("dashboards:customer", args=["post"])).content.decode()
    assert "This customer has no credit wallet (postpaid)" in html
    assert "Postpaid contract: usage is invoiced in arrears, no credits are drawn." in html
    assert "The contract in force includes no usage allowance per meter" in html


@pytest.mark.parametrize(
    "url_name, args", [("dashboards:overview", []), ("dashboards:margin", []), ("dashboards:customer", ["acme"])]
)
def test_query_count_does_not_grow_with_usage(
    clients, acme, shop, url_name, args, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    url = reverse(url_name, args=args)
    clients["owner"].get(url)
    with django_assert_max_num_queries(40) as before:
        clients["owner"].get(url)
    others = [shop.customer(f"more-{i}", credits="5000") for i in range(4)]
    ingest_and_rate(
        [
            shop.event(c, m, 10, ago(days=d, hours=1))
            for c in others + [acme]
            for m in (shop.tokens, shop.images)
            for d in range(5)
        ],
        django_capture_on_commit_callbacks,
    )
    with django_assert_max_num_queries(len(before.captured_queries)):
        clients["owner"].get(url)


def test_chart_builders_without_data():
    period, _ = ds.parse_range({"range": "7"})
    assert charts.consumption_chart([], {}, period, by="product", measure="events").empty
    assert charts.money_chart(ds.money_by_day([], period), period).empty
    assert charts.alerts_timeline_chart([], period).empty == "No alert fired for this customer last 7 days."
    chart = charts.included_chart([], period_label="", has_contract=False)
    assert chart.empty == "No contract in force, so nothing is included." and chart.table == [
        ["meter", "unit", "used", "included", "used_pct", "thresholds", "crossed_on"]
    ]


def test_account_health_is_a_dashboard_panel_and_its_old_address_redirects(clients, acme):
    """The account-health panel moved from alerts to insights; the old address still leads to it."""
    response = clients["am"].get("/alerts/panels/health/")
    assert response.status_code == 302 and response["Location"] == reverse("dashboards:panel-health")
    page = clients["am"].get(response["Location"])
    assert page.status_code == 200 and b"acme" in page.content.lower()
