from decimal import Decimal

import pytest
from django.test import Client

from apps.core.actors import SYSTEM
from apps.core.roles import Cap
from apps.core.services import api_key_create
from tests.contracts import factories as f
from tests.contracts.selectors.test_selectors import utc

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def api():
    raw = api_key_create(name="crm", actor=SYSTEM).raw_key
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_list_is_a_standard_page_with_external_ids(api, users):
    for i in range(3):
        f.customer(
            f"c-{i}",
            f"Customer {i}",
            segment="smb" if i else "enterprise",
            account_manager_id=users["am"].pk if i == 0 else None,
        )
    response = api.get("/api/v1/customers")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"} and body["count"] == 3
    assert body["results"][0] == {
        "id": "c-0",
        "name": "Customer 0",
        "segment": "enterprise",
        "status": "active",
        "account_manager": "am",
    }
    assert [c["id"] for c in api.get("/api/v1/customers?segment=smb").json()["results"]] == ["c-1", "c-2"]
    assert [c["id"] for c in api.get("/api/v1/customers?search=mer 2").json()["results"]] == ["c-2"]


def test_detail_has_the_contract_in_force_with_decimal_strings(api):
    cust = f.customer("acme", "Acme")
    m = f.meter("gpu.seconds")
    from apps.contracts.selectors import OverrideTerms

    f.contract(
        cust,
        starts_at=utc(2026, 1, 1),
        billing_model="hybrid",
        enforcement="soft",
        overdraft_limit=D("250.5"),
        credit_price=D("0.01"),
        allowances={m.pk: D(3600)},
        overrides={m.pk: OverrideTerms("fixed", None, D("0.0009"), D(1))},
    )
    body = api.get("/api/v1/customers/acme").json()
    assert body["id"] == "acme" and body["name"] == "Acme"
    contract = body["contract"]
    assert contract["billing_model"] == "hybrid" and contract["enforcement"] == "soft"
    assert contract["overdraft_limit"] == "250.5" and contract["credit_price"] == "0.01"
    assert contract["rate_table"] == "list-usd"
    assert contract["allowances"] == [{"meter": "gpu.seconds", "quantity": "3600"}]
    assert contract["overrides"][0]["unit_price"] == "0.0009"
    assert contract["current_period_start"].endswith("Z") or "+00:00" in contract["current_period_start"]
    assert api.get("/api/v1/customers/nobody").json()["code"] == "not_found"
    assert api.get("/api/v1/customers/nobody").status_code == 404
    f.customer("bare", "Bare")
    assert api.get("/api/v1/customers/bare").json()["contract"] is None


def test_authentication_and_scopes(clients):
    f.customer("acme", "Acme")
    anonymous = Client()
    for url in ("/api/v1/customers", "/api/v1/customers/acme"):
        response = anonymous.get(url)
        assert response.status_code == 401 and set(response.json()) == {"message", "code", "extra"}
    assert Client(HTTP_AUTHORIZATION="Bearer rd_nope_nope").get("/api/v1/customers").status_code == 401
    narrow = api_key_create(name="ingest only", actor=SYSTEM, scopes=frozenset({Cap.USAGE_INGEST})).raw_key
    assert Client(HTTP_AUTHORIZATION=f"Bearer {narrow}").get("/api/v1/customers").status_code == 403
    # a logged-in person with the capability may use it too
    assert clients["support"].get("/api/v1/customers").status_code == 200


def test_schema_describes_the_endpoints(clients):
    response = clients["admin"].get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    for path in (
        "/api/v1/customers",
        "/api/v1/customers/{external_id}",
        "/api/v1/customers/{external_id}/balance",
        "/api/v1/customers/{external_id}/credits",
    ):
        assert path in text
