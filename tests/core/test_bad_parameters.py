"""Bad parameters get a 400 (API: {"message", "code"}) or a form error, never a 500; unknown /api/ paths answer
the JSON error shape."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.actors import SYSTEM
from apps.core.services import api_key_create
from tests.usage.builders import World, ago

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(actors):
    world = World(actors)
    tokens = world.meter("llm.input_tokens")
    table = world.table("list-usd")
    world.version(table, {tokens: "0.001"}, effective_from=ago(days=60))
    world.customer("acme", table, credits="10")
    key = api_key_create(name="reader", actor=SYSTEM)
    return Client(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")


def assert_api_400(response):
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = response.json()
    assert body["message"] and body["code"]


@pytest.mark.parametrize(
    "at", ["2026-02-30", "9999-12-31T23:59:59-23:00", "0001-01-01T00:00:00+00:01", "2026-13-01", "\x00", "yesterday"]
)
def test_as_of_bad_instants_are_400(api, at):
    assert_api_400(api.get("/api/v1/rate-tables/list-usd/as-of", {"at": at}))


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/customers?search=%00",
        "/api/v1/customers?status=%00",
        "/api/v1/customers?segment=%00",
        "/api/v1/meters?page=%00",
        "/api/v1/customers/acme/usage?start=0001-01-01&end=0001-01-31",
        "/api/v1/customers/acme/usage?start=9999-12-01&end=9999-12-31",
        "/api/v1/customers/acme/statement?start=0001-01-01&end=0001-01-02",
    ],
)
def test_api_bad_query_parameters_are_400(api, url):
    assert_api_400(api.get(url))


@pytest.mark.parametrize(
    "url", ["/api/v1/nothing-here", "/api/v1/events/", "/api/v2/events", "/api/", "/api/v1/customers/acme/nothing"]
)
def test_unknown_api_paths_answer_json(api, url):
    response = api.get(url)
    assert response.status_code == 404 and response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_found" and response.json()["message"]


@pytest.mark.parametrize(
    "url",
    [
        "/catalog/products/?q=%00",
        "/catalog/meters/?q=%00",
        "/customers/?q=%00",
        "/alerts/?customer=%00",
        "/usage/?q=%00",
    ],
)
def test_nul_in_page_filters_is_a_400_page(clients, url):
    response = clients["owner"].get(url)
    assert response.status_code == 400 and b"not allowed" in response.content


@pytest.mark.parametrize(
    "query",
    [
        "start=0001-01-01&end=0001-01-31",
        "start=9999-12-01&end=9999-12-31",
        "range=custom&start=0001-01-01&end=0001-01-02",
        "range=custom&start=9999-12-30&end=9999-12-31",
    ],
)
def test_dashboards_with_extreme_years_show_a_form_error(clients, query):
    response = clients["owner"].get(f"/dashboards/?{query}")
    assert response.status_code == 200
    assert b"must be between" in response.content


def test_customer_dashboard_with_extreme_years_shows_a_form_error(clients, api):
    response = clients["owner"].get("/dashboards/customers/acme/?start=9999-12-01&end=9999-12-31")
    assert response.status_code == 200 and b"must be between" in response.content


@pytest.mark.parametrize("user_id", ["abc", "1.5", "99999999999999999999999", "\x00"])
def test_admin_users_with_a_bad_user_id_is_400(clients, user_id):
    response = clients["admin"].post("/admin/users/", {"user_id": user_id, "roles": []})
    assert response.status_code == 400
