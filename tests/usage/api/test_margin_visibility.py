"""Issue 9 item 4: cost and margin follow the capability everywhere: API (session or key), CSVs and pages."""

import csv
import io

import pytest
from django.test import Client

from apps.core.actors import SYSTEM
from apps.core.permissions import may_see_margin
from apps.core.services import api_key_create
from tests.usage.builders import ago, ingest, rate

pytestmark = pytest.mark.django_db

WITH_MARGIN = ["owner", "finance"]
WITHOUT_MARGIN = ["am", "support"]


@pytest.fixture
def charged(world):
    tokens = world.meter("llm.input_tokens", cost="0.001")
    table = world.table(unit="credits")
    world.version(table, {tokens: {"price": "0.5", "per": "1000"}}, effective_from=ago(days=60))
    acme = world.customer("acme", table, credits="100")
    ingest([world.event(acme, tokens, 3000, ago(hours=2), id="evt-1")])
    rate()
    return {"acme": acme, "tokens": tokens}


def _key_client(*scopes):
    raw = api_key_create(name="k", actor=SYSTEM, scopes=frozenset(scopes)).raw_key
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _statement_header(response) -> list[str]:
    return next(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("name", WITH_MARGIN + WITHOUT_MARGIN)
def test_usage_and_statement_api_from_a_browser_session(clients, charged, name):
    client = clients[name]
    usage = client.get("/api/v1/customers/acme/usage")
    assert usage.status_code == 200
    meters = usage.json()["meters"]
    assert meters and all(("cost" in m) == (name in WITH_MARGIN) for m in meters)
    statement = client.get("/api/v1/customers/acme/statement")
    assert statement.status_code == 200
    assert ("cost" in _statement_header(statement)) == (name in WITH_MARGIN)


@pytest.mark.parametrize("name", WITH_MARGIN + WITHOUT_MARGIN)
def test_statement_csv_page_leaves_cost_out_without_margin(clients, charged, name):
    response = clients[name].get("/usage/customers/acme/statement.csv")
    header = _statement_header(response)
    assert ("cost" in header) == (name in WITH_MARGIN)
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert all(len(row) == len(header) for row in rows)


def test_api_keys_see_cost_only_with_the_margin_scope(charged):
    plain, margin = _key_client("read"), _key_client("read", "margin")
    assert all("cost" not in m for m in plain.get("/api/v1/customers/acme/usage").json()["meters"])
    assert all("cost" in m for m in margin.get("/api/v1/customers/acme/usage").json()["meters"])
    assert "cost" not in _statement_header(plain.get("/api/v1/customers/acme/statement"))
    assert "cost" in _statement_header(margin.get("/api/v1/customers/acme/statement"))


@pytest.mark.parametrize("name", WITHOUT_MARGIN)
def test_customer_consumption_page_and_csvs_carry_no_cost(clients, charged, name):
    page = clients[name].get("/dashboards/customers/acme/")
    assert page.status_code == 200 and not page.context["show_cost"]
    for chart in ("usage", "attribution-user"):
        body = clients[name].get(f"/dashboards/customers/acme/csv/{chart}/")
        assert body.status_code == 200
        assert "cost" not in body.content.decode().splitlines()[0]


def test_catalog_pages_show_cost_only_with_margin(clients, charged):
    tokens = charged["tokens"]
    for name, sees in (("am", False), ("admin", False), ("owner", True), ("finance", True)):
        meters = clients[name].get("/catalog/meters/").content.decode()
        detail = clients[name].get(f"/catalog/meters/{tokens.pk}/").content.decode()
        assert ("Cost per unit now" in meters) == sees, name
        assert ('id="meter-costs"' in detail) == sees, name


def test_one_helper_decides_for_users_and_keys(users):
    from apps.core.actors import ApiKeyPrincipal

    assert [may_see_margin(users[n]) for n in ("owner", "finance", "am", "support", "admin")] == [
        True,
        True,
        False,
        False,
        False,
    ]
    for scopes, expected in (({"read"}, False), ({"read", "margin"}, True)):
        key = api_key_create(name="k", actor=SYSTEM, scopes=frozenset(scopes)).api_key
        assert may_see_margin(ApiKeyPrincipal(api_key=key)) is expected
