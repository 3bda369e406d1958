"""Permission matrix for every customer/contract and wallet page and action: allowed roles get in, the others
get 403, anonymous users are sent to the login page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.actors import Actor
from apps.wallets.services import credit_issue
from tests.contracts import factories as f

ROLES = ["owner", "finance", "am", "support", "admin"]
VIEW = set(ROLES)
EDIT = {"finance", "am"}
ISSUE = {"support"}
APPROVE = {"finance"}

# (name, method, url template, allowed roles)
MATRIX = [
    ("customer list", "get", "/customers/", VIEW),
    ("accounts panel", "get", "/customers/panels/my-accounts/", VIEW),
    ("customer page", "get", "/customers/{ext}/", VIEW),
    ("customer contracts", "get", "/customers/{ext}/contracts/", VIEW),
    ("contract history", "get", "/customers/{ext}/contracts/{contract}/history/", VIEW),
    ("new customer form", "get", "/customers/new/", EDIT),
    ("new customer", "post", "/customers/new/", EDIT),
    ("edit customer form", "get", "/customers/{ext}/edit/", EDIT),
    ("edit customer", "post", "/customers/{ext}/edit/", EDIT),
    ("new contract form", "get", "/customers/{ext}/contracts/new/", EDIT),
    ("new contract", "post", "/customers/{ext}/contracts/new/", EDIT),
    ("edit contract form", "get", "/customers/{ext}/contracts/{contract}/edit/", EDIT),
    ("edit contract", "post", "/customers/{ext}/contracts/{contract}/edit/", EDIT),
    ("balance panel", "get", "/wallets/customers/{ext}/panel/", VIEW),
    ("ledger panel", "get", "/wallets/customers/{ext}/ledger-panel/", VIEW),
    ("ledger", "get", "/wallets/customers/{ext}/ledger/", VIEW),
    ("grants", "get", "/wallets/customers/{ext}/grants/", VIEW),
    ("credit form", "get", "/wallets/customers/{ext}/credits/new/", ISSUE),
    ("issue credit", "post", "/wallets/customers/{ext}/credits/new/", ISSUE),
    ("void grant", "post", "/wallets/grants/{grant}/void/", APPROVE),
    ("credit requests", "get", "/wallets/credit-requests/", APPROVE),
    ("approve request", "post", "/wallets/credit-requests/{request}/approve/", APPROVE),
    ("reject request", "post", "/wallets/credit-requests/{request}/reject/", APPROVE),
    ("support activity", "get", "/wallets/support-activity/", ISSUE | APPROVE),
    ("credit requests panel", "get", "/wallets/panels/credit-requests/", APPROVE),
    ("support activity panel", "get", "/wallets/panels/support-activity/", ISSUE),
]


@pytest.fixture
def world(users):
    cust = f.customer("acme", "Acme", account_manager_id=users["am"].pk)
    contract = f.contract(cust)
    grant = f.grant(cust, 100, expires_at=timezone.now() + timedelta(days=30))
    request = credit_issue(
        customer_id=cust.pk,
        amount=Decimal(5000),
        kind="support",
        reason_code="outage",
        idempotency_key="perm",
        actor=Actor(user=users["support"]),
    ).request
    return {"ext": cust.external_id, "contract": contract.pk, "grant": grant.pk, "request": request.pk}


@pytest.mark.django_db
@pytest.mark.parametrize("name,method,url,allowed", MATRIX, ids=[m[0] for m in MATRIX])
def test_permission_matrix(clients, world, name, method, url, allowed):
    url = url.format(**world)
    for role in ROLES:
        response = getattr(clients[role], method)(url, {"reason": "x", "comment": "x"} if method == "post" else None)
        if role in allowed:
            assert response.status_code != 403, f"{role} should be allowed: {name}"
            assert response.status_code in (200, 204, 302, 400), f"{role}: {name} -> {response.status_code}"
        else:
            assert response.status_code == 403, f"{role} must be refused: {name} ({response.status_code})"
    response = getattr(clients["anonymous"], method)(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_navigation_by_role(clients, world):
    def nav(role):
        return clients[role].get("/customers/").context["nav_items"]

    labels = {role: {i["label"] for i in nav(role)} for role in ROLES}
    assert all("Customers" in labels[r] for r in ROLES)
    assert "Credit requests" in labels["finance"] and "Credit requests" not in labels["support"]
    assert "Support activity" in labels["support"] and "Support activity" not in labels["am"]
    badge = next(i for i in nav("finance") if i["label"] == "Credit requests")["badge"]
    assert badge == 1
