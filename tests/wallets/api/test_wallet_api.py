from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.core.roles import Cap
from apps.core.services import api_key_create
from apps.wallets.models import CreditGrant, CreditRequest, LedgerEntry
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture(autouse=True)
def caps(settings):
    settings.RATEDESK = {
        **settings.RATEDESK,
        "SUPPORT_CREDIT_CAP_PER_GRANT": "500",
        "SUPPORT_CREDIT_CAP_PER_CUSTOMER_MONTH": "2000",
    }


@pytest.fixture
def api():
    raw = api_key_create(name="helpdesk", actor=SYSTEM, scopes=frozenset({"read", "credits"})).raw_key
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def test_balance(api):
    cust = f.customer("acme", "Acme")
    soon = timezone.now() + timedelta(days=5)
    g1 = f.grant(cust, "1000.5", price_per_credit=D("0.01"))
    g2 = f.grant(cust, 20, kind="promotional", expires_at=soon)
    body = api.get("/api/v1/customers/acme/balance").json()
    assert body["customer"] == "acme" and body["balance"] == "1020.5" and body["unit"] == "credits"
    assert [(g["id"], g["kind"], g["remaining"], g["priority"]) for g in body["grants"]] == [
        (g2.pk, "promotional", "20", 100),
        (g1.pk, "purchased", "1000.5", 100),
    ]
    assert body["grants"][0]["expires_at"] is not None and body["grants"][1]["expires_at"] is None
    assert api.get("/api/v1/customers/none/balance").status_code == 404


def test_credit_issue_201_then_202_and_idempotent(api):
    cust = f.customer("acme", "Acme")
    url = "/api/v1/customers/acme/credits"
    body = {
        "amount": "250",
        "kind": "support",
        "reason": "outage",
        "idempotency_key": "tk-1",
        "expires_at": (timezone.now() + timedelta(days=30)).isoformat(),
        "reference": "SUP-1",
    }
    first = post(api, url, body)
    assert first.status_code == 201, first.content
    data = first.json()
    assert data["status"] == "issued" and data["grant"]["amount"] == "250" and data["balance"] == "250"
    assert data["request"] is None
    again = post(api, url, body)
    assert again.status_code == 201 and again.json()["grant"]["id"] == data["grant"]["id"]
    assert CreditGrant.objects.count() == 1
    entry = LedgerEntry.objects.get(entry_type="grant")
    assert entry.actor_api_key is not None and entry.actor_user is None

    big = post(api, url, {**body, "amount": "900", "idempotency_key": "tk-2"})
    assert big.status_code == 202 and big.json()["status"] == "pending"
    assert big.json()["request"]["status"] == "pending" and big.json()["grant"] is None
    assert post(api, url, {**body, "amount": "900", "idempotency_key": "tk-2"}).status_code == 202
    assert CreditRequest.objects.count() == 1

    conflict = post(api, url, {**body, "amount": "251"})
    assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_conflict"
    assert cust.wallet.grants.count() == 1


def test_credit_issue_validation(api):
    f.customer("acme", "Acme")
    url = "/api/v1/customers/acme/credits"
    base = {"amount": "10", "kind": "support", "reason": "outage", "idempotency_key": "k"}
    cases = [
        {**base, "amount": 10.5},  # a JSON float
        {**base, "amount": "-1"},
        {**base, "amount": "0"},
        {**base, "kind": "purchased"},
        {**base, "reason": "because"},
        {**base, "idempotency_key": ""},
        {**base, "expires_at": (timezone.now() - timedelta(days=1)).isoformat()},
    ]
    for body in cases:
        response = post(api, url, body)
        assert response.status_code == 400, (body, response.content)
        assert set(response.json()) == {"message", "code", "extra"}
    assert post(api, "/api/v1/customers/none/credits", base).status_code == 404


def test_credit_issue_auth():
    f.customer("acme", "Acme")
    body = {"amount": "10", "reason": "outage", "idempotency_key": "k"}
    assert post(Client(), "/api/v1/customers/acme/credits", body).status_code == 401
    assert Client().get("/api/v1/customers/acme/balance").status_code == 401
    narrow = api_key_create(name="read only", actor=SYSTEM, scopes=frozenset({Cap.CUSTOMERS_VIEW})).raw_key
    client = Client(HTTP_AUTHORIZATION=f"Bearer {narrow}")
    assert post(client, "/api/v1/customers/acme/credits", body).status_code == 403
    assert client.get("/api/v1/customers/acme/balance").status_code == 200


def test_people_use_their_role(clients):
    f.customer("acme", "Acme")
    body = {"amount": "10", "reason": "outage", "idempotency_key": "k"}
    assert post(clients["am"], "/api/v1/customers/acme/credits", body).status_code == 403
    assert post(clients["support"], "/api/v1/customers/acme/credits", body).status_code == 201
