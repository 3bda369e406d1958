"""Alert pages: allowed or refused per role, filters, acknowledgement with a note (htmx in place), rules and
webhooks forms, bounded query counts."""

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.alerts.models import Alert, AlertRule, Kind, WebhookEndpoint
from apps.alerts.services import alert_rule_create, alerts_evaluate, webhook_endpoint_create
from apps.core.actors import SYSTEM

pytestmark = pytest.mark.django_db

VIEWERS = {"owner", "owner2", "finance", "finance2", "am", "support"}
MANAGERS = {"owner", "owner2", "am"}
HEALTH = {"owner", "owner2", "finance", "finance2", "am"}
ROLES = ["owner", "owner2", "finance", "finance2", "am", "support", "admin", "anonymous"]


@pytest.fixture
def fired(shop, users, settings):
    # The loopback endpoint is allowed explicitly, as an on-premises receiver would be.
    settings.RATEDESK = {**settings.RATEDESK, "WEBHOOK_ALLOWED_PRIVATE_HOSTS": ["127.0.0.1"]}
    customer = shop.customer("acme", credits="10", manager=users["am"])
    rule = alert_rule_create(kind=Kind.BALANCE_BELOW, threshold="100", customer_id=customer.pk, actor=SYSTEM)
    alerts_evaluate(customer_ids=[customer.pk])
    endpoint = webhook_endpoint_create(name="ops", url="http://127.0.0.1:9/hook", actor=SYSTEM)
    return {"customer": customer, "rule": rule, "alert": Alert.objects.get(rule=rule), "endpoint": endpoint}


def _pages(fired):
    c, alert, rule, endpoint = fired["customer"], fired["alert"], fired["rule"], fired["endpoint"]
    return [
        (reverse("alerts:alert-list"), VIEWERS),
        (reverse("alerts:alert-detail", args=[alert.pk]), VIEWERS),
        (reverse("alerts:panel-open"), VIEWERS),
        (reverse("alerts:customer-panel", args=[c.external_id]), VIEWERS),
        (reverse("alerts:rule-list"), VIEWERS),
        (reverse("alerts:rule-create"), MANAGERS),
        (reverse("alerts:rule-edit", args=[rule.pk]), MANAGERS),
        (reverse("alerts:webhook-list"), MANAGERS),
        (reverse("alerts:webhook-create"), MANAGERS),
        (reverse("alerts:webhook-edit", args=[endpoint.pk]), MANAGERS),
        (reverse("dashboards:panel-health"), HEALTH),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_each_page_allowed_or_refused_per_role(clients, fired, role):
    for url, allowed in _pages(fired):
        response = clients[role].get(url)
        if role == "anonymous":
            assert response.status_code == 302 and "/login/" in response["Location"], url
        elif role in allowed:
            assert response.status_code == 200, (role, url)
        else:
            assert response.status_code == 403, (role, url)


@pytest.mark.parametrize("role", ["admin", "anonymous"])
def test_acknowledge_refused(clients, fired, role):
    response = clients[role].post(reverse("alerts:alert-acknowledge", args=[fired["alert"].pk]), {"note": "x"})
    assert response.status_code in (302, 403)
    fired["alert"].refresh_from_db()
    assert fired["alert"].state == "open"


def test_acknowledge_in_place_with_a_note(clients, fired, users):
    url = reverse("alerts:alert-acknowledge", args=[fired["alert"].pk])
    response = clients["support"].post(url, {"note": ""}, headers={"HX-Request": "true"})
    # htmx swaps only 2xx answers: the row with the form's error comes back as 200, the alert stays open
    assert response.status_code == 200 and b"required" in response.content
    fired["alert"].refresh_from_db()
    assert fired["alert"].state == "open"
    response = clients["support"].post(url, {"note": "Customer called, buying credits"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b"Customer called, buying credits" in response.content and b'<tr id="alert-' in response.content
    fired["alert"].refresh_from_db()
    assert fired["alert"].state == "acknowledged" and fired["alert"].acknowledged_by == users["support"]
    response = clients["am"].post(url, {"note": "again"})  # plain post: redirect with a message
    assert response.status_code == 302


def test_list_filters_and_badge(clients, fired, shop):
    other = shop.customer("other", credits="10")
    alert_rule_create(kind=Kind.BALANCE_BELOW, threshold="100", customer_id=other.pk, actor=SYSTEM)
    alerts_evaluate(customer_ids=[other.pk])
    page = clients["owner"].get(reverse("alerts:alert-list"), {"customer": "other"}).content.decode()
    assert "Other" in page and "Acme" not in page.split("<tbody>")[1]
    page = clients["owner"].get(reverse("alerts:alert-list"), {"kind": Kind.DAILY_SPIKE}).content.decode()
    assert "No alerts match" in page
    page = clients["owner"].get(reverse("alerts:alert-list"), {"state": "resolved"}).content.decode()
    assert "No alerts match" in page
    # the badge: all open alerts for the owner, only their accounts' for the account manager
    assert '<span class="badge" title="2 waiting">2</span>' in clients["owner"].get("/").content.decode()
    assert '<span class="badge" title="1 waiting">1</span>' in clients["am"].get("/").content.decode()
    # the account manager's list defaults to their accounts
    table = clients["am"].get(reverse("alerts:alert-list")).content.decode().split("<tbody>")[1]
    assert "Acme" in table and "Other" not in table


def test_alert_detail_shows_value_threshold_and_deliveries(clients, fired):
    from apps.alerts.services import _queue_notifications

    _queue_notifications([fired["alert"].pk])
    page = clients["am"].get(reverse("alerts:alert-detail", args=[fired["alert"].pk])).content.decode()
    assert "10 credits" in page and "100 credits" in page  # value and threshold
    assert "http://127.0.0.1:9/hook" in page and "Pending" in page


def test_list_query_count_does_not_grow_with_alerts(clients, shop, django_assert_max_num_queries):
    url = reverse("alerts:alert-list")
    customers = [shop.customer(f"q-{i}", credits="10") for i in range(3)]
    for c in customers:
        alert_rule_create(kind=Kind.BALANCE_BELOW, threshold="100", customer_id=c.pk, actor=SYSTEM)
    alerts_evaluate(customer_ids=[c.pk for c in customers])
    from apps.alerts.services import _queue_notifications

    _queue_notifications(list(Alert.objects.values_list("pk", flat=True)))
    clients["owner"].get(url)
    with django_assert_max_num_queries(14) as few:
        clients["owner"].get(url)
    more = [shop.customer(f"r-{i}", credits="10") for i in range(12)]
    for c in more:
        alert_rule_create(kind=Kind.BALANCE_BELOW, threshold="100", customer_id=c.pk, actor=SYSTEM)
    alerts_evaluate(customer_ids=[c.pk for c in more])
    _queue_notifications(list(Alert.objects.values_list("pk", flat=True)))
    with django_assert_max_num_queries(len(few.captured_queries)):
        clients["owner"].get(url)


def test_rule_list_and_health_panel_query_counts(clients, shop, users, django_assert_max_num_queries):
    for i in range(3):
        shop.customer(f"h-{i}", credits="100", manager=users["am"], allowances={shop.tokens: 1000})
    alerts_evaluate(customer_ids=[c.pk for c in users["am"].accounts.all()])
    clients["am"].get(reverse("dashboards:panel-health"))
    clients["am"].get(reverse("alerts:rule-list"))
    with django_assert_max_num_queries(20) as few_health:
        clients["am"].get(reverse("dashboards:panel-health"))
    with django_assert_max_num_queries(20) as few_rules:
        clients["am"].get(reverse("alerts:rule-list"))
    for i in range(8):
        shop.customer(f"k-{i}", credits="100", manager=users["am"], allowances={shop.tokens: 1000})
    alerts_evaluate(customer_ids=[c.pk for c in users["am"].accounts.all()])
    with django_assert_max_num_queries(len(few_health.captured_queries)):
        response = clients["am"].get(reverse("dashboards:panel-health"))
    assert response.content.decode().count('<div class="meter-bar') == 11
    with django_assert_max_num_queries(len(few_rules.captured_queries)):
        clients["am"].get(reverse("alerts:rule-list"))


def test_rule_create_and_edit_through_the_pages(clients, shop):
    c = shop.customer("ruled", credits="10")
    response = clients["am"].post(
        reverse("alerts:rule-create"),
        {
            "kind": Kind.BALANCE_BELOW,
            "customer": str(c.pk),
            "meter": "",
            "threshold": "2500",
            "enabled": "on",
            "note": "call before it runs dry",
        },
    )
    assert response.status_code == 302
    rule = AlertRule.objects.get(customer=c, kind=Kind.BALANCE_BELOW)
    assert rule.threshold == Decimal(2500) and rule.created_by.username == "am"
    response = clients["am"].post(
        reverse("alerts:rule-edit", args=[rule.pk]),
        {"kind": Kind.BALANCE_BELOW, "customer": str(c.pk), "threshold": "-3", "enabled": "on"},
    )
    assert response.status_code == 400 and b"above zero" in response.content
    response = clients["owner"].post(reverse("alerts:rule-edit", args=[rule.pk]), {"threshold": "1000"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.threshold == Decimal(1000) and not rule.enabled
    bad = clients["am"].post(
        reverse("alerts:rule-create"), {"kind": Kind.BALANCE_BELOW, "threshold": "5", "meter": str(shop.tokens.pk)}
    )
    assert bad.status_code == 400 and b"whole account" in bad.content


def test_webhook_secret_is_shown_once(clients):
    response = clients["owner"].post(
        reverse("alerts:webhook-create"),
        {"name": "pager", "url": "https://ops.example/x", "kinds": [Kind.RUNWAY_BELOW]},
    )
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get(name="pager")
    assert endpoint.kinds == [Kind.RUNWAY_BELOW] and endpoint.secret.startswith("whsec_")
    first = clients["owner"].get(reverse("alerts:webhook-list")).content.decode()
    assert endpoint.secret in first
    again = clients["owner"].get(reverse("alerts:webhook-list")).content.decode()
    assert endpoint.secret not in again
    bad = clients["owner"].post(reverse("alerts:webhook-create"), {"name": "x", "url": "ftp://nope"})
    assert bad.status_code == 400


def test_alerts_sit_on_the_customer_page_time_axis_on_the_day_the_data_crossed(
    clients, shop, settings, django_capture_on_commit_callbacks
):
    import json
    import re

    from tests.alerts.builders import ago, ingest_and_rate

    settings.RATEDESK = {**settings.RATEDESK, "ALERTS_EVALUATE_AFTER_RATING": False}
    c = shop.customer("axis", credits="100000", allowances={shop.tokens: 1000})
    crossed = ago(days=2)
    ingest_and_rate([shop.event(c, shop.tokens, 950, crossed)], django_capture_on_commit_callbacks)
    alerts_evaluate(customer_ids=[c.pk])  # found today, crossed two days ago
    html = clients["am"].get(reverse("dashboards:customer", args=["axis"])).content.decode()
    body = re.search(r'id="chart-data-alerts">(.*?)</script>', html, re.S).group(1)
    figure = json.loads(body)
    xs = [x for trace in figure["data"] for x in trace["x"]]
    assert xs and all(x.startswith(crossed.date().isoformat()) for x in xs)
    assert {y for trace in figure["data"] for y in trace["y"]} == {"Included usage crossed"}


def test_customer_panel_groups_the_thresholds_of_one_meter_and_acknowledges_them_together(
    clients, shop, django_capture_on_commit_callbacks
):
    from tests.alerts.builders import ago, ingest_and_rate

    c = shop.customer("grouped", credits="100000", allowances={shop.tokens: 1000})
    ingest_and_rate([shop.event(c, shop.tokens, 1200, ago(hours=2))], django_capture_on_commit_callbacks)
    html = clients["am"].get(reverse("alerts:customer-panel", args=["grouped"])).content.decode()
    assert html.count('class="alert alert-bad customer-alert"') == 1  # 100 % shown, 70 and 90 % carried along
    assert "Also open for this meter and period: 90 %, 70 %" in html
    top = Alert.objects.get(customer=c, threshold=100)
    others = list(Alert.objects.filter(customer=c, threshold__in=[70, 90]).values_list("pk", flat=True))
    response = clients["am"].post(
        reverse("alerts:alert-acknowledge", args=[top.pk]),
        {"note": "Upsell agreed", "compact": "1", "also": others},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and b"Upsell agreed" in response.content
    assert set(Alert.objects.filter(customer=c, kind=Kind.INCLUDED_USAGE).values_list("state", flat=True)) == {
        "acknowledged"
    }
