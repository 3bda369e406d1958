from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.roles import Role
from apps.wallets.models import CreditGrant, CreditRequest
from apps.wallets.selectors import wallet_balance
from apps.wallets.services import credit_issue, wallet_debit
from tests.conftest import make_user
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
def acme(users):
    cust = f.customer("acme", "Acme")
    f.contract(cust)
    return cust


def credit_form(amount, key="ui-1", **extra):
    data = {
        "amount": str(amount),
        "kind": "support",
        "reason_code": "outage",
        "reference": "SUP-1",
        "expires_on": (timezone.now() + timedelta(days=90)).date().isoformat(),
        "note": "",
        "idempotency_key": key,
    }
    data.update(extra)
    return data


def test_issue_credit_via_htmx_rerenders_the_balance_panel(clients, acme):
    support = clients["support"]
    form = support.get("/wallets/customers/acme/credits/new/", HTTP_HX_REQUEST="true")
    assert form.status_code == 200 and b"<html" not in form.content and b"idempotency_key" in form.content
    response = support.post("/wallets/customers/acme/credits/new/", credit_form(200), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#panel-wallet" and response["HX-Trigger"] == "wallet-changed"
    html = response.content.decode()
    assert "Issued 200 support" in html and 'data-testid="wallet-balance">200.00<' in html
    # a double submit with the same form key changes nothing
    support.post("/wallets/customers/acme/credits/new/", credit_form(200), HTTP_HX_REQUEST="true")
    assert wallet_balance(customer_id=acme.pk).balance == D(200)


def test_issue_above_cap_goes_pending_and_is_shown(clients, acme):
    response = clients["support"].post(
        "/wallets/customers/acme/credits/new/", credit_form(900, key="big"), HTTP_HX_REQUEST="true"
    )
    assert "waiting for a finance approver" in response.content.decode()
    assert CreditRequest.objects.get().status == "pending"
    assert wallet_balance(customer_id=acme.pk).balance == 0
    panel = clients["am"].get("/wallets/customers/acme/panel/").content.decode()
    assert "1 credit request waiting for finance" in panel


def test_issue_credit_without_htmx_redirects_with_a_message(clients, acme):
    response = clients["support"].post("/wallets/customers/acme/credits/new/", credit_form(50), follow=True)
    assert response.redirect_chain[-1][0] == "/customers/acme/"
    assert any("Issued 50" in str(m) for m in response.context["messages"])


def test_issue_credit_form_errors(clients, acme):
    support = clients["support"]
    response = support.post("/wallets/customers/acme/credits/new/", credit_form(50, reason_code=""))
    assert response.status_code == 400 and "reason_code" in response.context["form"].errors
    response = support.post("/wallets/customers/acme/credits/new/", credit_form(50, reason_code="other"))
    assert response.status_code == 400 and "note" in response.context["form"].errors  # service rule, on the field
    response = support.post(
        "/wallets/customers/acme/credits/new/",
        credit_form(50, expires_on=(timezone.now() - timedelta(days=1)).date().isoformat()),
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and "expires_on" in response.context["form"].errors


def test_finance_approves_and_rejects_from_the_review_list(clients, users, acme):
    support = Actor(user=users["support"])
    r1 = credit_issue(
        customer_id=acme.pk, amount=D(900), reason_code="outage", idempotency_key="a", actor=support
    ).request
    r2 = credit_issue(
        customer_id=acme.pk, amount=D(950), reason_code="goodwill", idempotency_key="b", actor=support
    ).request
    page = clients["finance"].get("/wallets/credit-requests/")
    assert [r.pk for r in page.context["pending"]] == [r1.pk, r2.pk]
    response = clients["finance"].post(
        f"/wallets/credit-requests/{r1.pk}/approve/", {"comment": "ok"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "Approved" in response.content.decode()
    assert wallet_balance(customer_id=acme.pk).balance == D(900)
    # reject needs a comment: the row comes back with the error
    response = clients["finance"].post(
        f"/wallets/credit-requests/{r2.pk}/reject/", {"comment": ""}, HTTP_HX_REQUEST="true"
    )
    assert "Say why" in response.content.decode()
    response = clients["finance"].post(f"/wallets/credit-requests/{r2.pk}/reject/", {"comment": "no"})
    assert response.status_code == 302
    assert CreditRequest.objects.get(pk=r2.pk).status == "rejected"
    activity = clients["support"].get("/wallets/support-activity/")
    assert {(row.status, row.amount) for row in activity.context["page"].object_list} == {
        ("approved", D(900)),
        ("rejected", D(950)),
    }
    assert (
        clients["support"].get("/wallets/support-activity/?status=rejected&mine=1").context["page"].paginator.count == 1
    )


def test_requester_with_finance_role_gets_403_on_own_request(acme):
    from django.test import Client

    both = make_user("both", Role.SUPPORT_AGENT, Role.FINANCE_APPROVER)
    client = Client()
    client.force_login(both)
    client.post("/wallets/customers/acme/credits/new/", credit_form(900, key="self"))
    request = CreditRequest.objects.get()
    assert client.post(f"/wallets/credit-requests/{request.pk}/approve/", {"comment": "me"}).status_code == 403
    response = client.post(f"/wallets/credit-requests/{request.pk}/approve/", {"comment": "me"}, HTTP_HX_REQUEST="true")
    assert "four-eyes" in response.content.decode()
    assert CreditRequest.objects.get().status == "pending"


def test_void_grant_and_ledger_page(clients, acme):
    grant = f.grant(acme, 100, expires_at=timezone.now() + timedelta(days=10))
    wallet_debit(customer_id=acme.pk, amount=D(30), idempotency_key="d", actor=Actor())
    response = clients["finance"].post(f"/wallets/grants/{grant.pk}/void/", {"reason": "refund"})
    assert response.status_code == 302
    assert CreditGrant.objects.get(pk=grant.pk).voided_at is not None
    ledger = clients["support"].get("/wallets/customers/acme/ledger/")
    assert ledger.context["conservation"].holds
    types = [e.entry_type for e in ledger.context["page"].object_list]
    assert types == ["void", "debit", "grant"]
    assert [
        e.entry_type
        for e in clients["support"].get("/wallets/customers/acme/ledger/?type=debit").context["page"].object_list
    ] == ["debit"]
    grants_page = clients["support"].get("/wallets/customers/acme/grants/").content.decode()
    assert "voided" in grants_page and "Void</button>" not in grants_page


def test_home_panels(clients, users, acme):
    credit_issue(
        customer_id=acme.pk,
        amount=D(900),
        reason_code="outage",
        idempotency_key="a",
        actor=Actor(user=users["support"]),
    )
    assert "1 waiting" in clients["finance"].get("/wallets/panels/credit-requests/").content.decode()
    assert "Acme" in clients["support"].get("/wallets/panels/support-activity/").content.decode()
    home = clients["finance"].get("/").content.decode()
    assert "/wallets/panels/credit-requests/" in home
