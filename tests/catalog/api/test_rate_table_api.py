from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.actors import SYSTEM
from apps.core.services import api_key_create
from tests.catalog.factories import MeterFactory, RateTableFactory, approved_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(name='t', actor=SYSTEM).raw_key}")
    return client


@pytest.fixture
def table(actors):
    meter = MeterFactory(code="gpu.seconds")
    table = RateTableFactory(code="list-usd")
    t1 = timezone.now() - timedelta(days=10)
    v1 = approved_version(table, {meter: "0.0011"}, maker=actors["owner"], checker=actors["finance"], effective_from=t1)
    v2 = approved_version(
        table,
        {meter: "0.0010"},
        maker=actors["owner"],
        checker=actors["finance"],
        effective_from=timezone.now() + timedelta(days=3),
    )
    return {"table": table, "v1": v1, "v2": v2, "t1": t1}


def test_requires_key(table):
    response = APIClient().get("/api/v1/rate-tables")
    assert response.status_code in (401, 403)
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer rd_nope_nope")
    assert bad.get("/api/v1/rate-tables").status_code == 401
    assert bad.get("/api/v1/rate-tables").json()["code"] == "invalid_api_key"


def test_list_active_and_as_of(api, table):
    listing = api.get("/api/v1/rate-tables").json()
    assert listing["results"][0]["code"] == "list-usd"
    assert listing["results"][0]["active_version"] == table["v1"].number
    assert listing["results"][0]["next_version"] == table["v2"].number
    active = api.get("/api/v1/rate-tables/list-usd/active").json()
    assert active["number"] == table["v1"].number and active["rates"][0]["unit_price"] == "0.0011"
    assert (active["cohort"], active["cohort_customers"], active["grandfather_until"]) == ("all", [], None)
    at = (table["v2"].effective_from).isoformat()
    assert api.get("/api/v1/rate-tables/list-usd/as-of", {"at": at}).json()["number"] == table["v2"].number
    before = (table["t1"] - timedelta(days=1)).date().isoformat()
    response = api.get("/api/v1/rate-tables/list-usd/as-of", {"at": before})
    assert response.status_code == 404 and response.json()["code"] == "no_version_in_force"
    bad = api.get("/api/v1/rate-tables/list-usd/as-of", {"at": "yesterday"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_at"
    assert api.get("/api/v1/rate-tables/nope/active").status_code == 404


def test_session_roles_without_catalog_view_are_refused(clients, table):
    assert clients["support"].get("/api/v1/rate-tables").status_code == 403
    assert clients["am"].get("/api/v1/rate-tables").status_code == 200
