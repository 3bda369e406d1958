from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.contracts.models import Contract, Customer
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db
D = Decimal


def contract_post(table, meter, **overrides):
    data = {
        "rate_table": str(table.pk),
        "starts_on": "2026-01-01",
        "ends_on": "",
        "billing_model": "hybrid",
        "enforcement": "soft",
        "overdraft_limit": "500",
        "currency": "usd",
        "base_fee": "99",
        "included_credits": "1000",
        "credit_price": "0.01",
        "billing_anchor_day": "31",
        "alert_thresholds": "70, 90, 100",
        "notes": "",
        "change_reason": "signed",
        "allowance-TOTAL_FORMS": "2",
        "allowance-INITIAL_FORMS": "0",
        "allowance-0-meter": str(meter.pk),
        "allowance-0-quantity": "5000000",
        "allowance-1-meter": "",
        "allowance-1-quantity": "",
        "override-TOTAL_FORMS": "1",
        "override-INITIAL_FORMS": "0",
        "override-0-meter": str(meter.pk),
        "override-0-kind": "multiplier",
        "override-0-multiplier": "0.8",
        "override-0-unit_price": "",
        "override-0-price_per_units": "",
    }
    data.update(overrides)
    return data


def test_list_search_filters_and_my_accounts(clients, users):
    mine = f.customer("mine-1", "Zephyr Mine", account_manager_id=users["am"].pk, segment="enterprise")
    other = f.customer("other-1", "Other Co", segment="smb")
    f.contract(mine, billing_model="postpaid", enforcement="unlimited")
    am = clients["am"]
    response = am.get("/customers/")
    assert response.context["scope"] == "mine"
    assert [r["customer"] for r in response.context["rows"]] == [mine]
    response = am.get("/customers/?scope=all")
    assert {r["customer"] for r in response.context["rows"]} == {mine, other}
    support = clients["support"]
    assert support.get("/customers/").context["scope"] == "all"
    assert [r["customer"] for r in support.get("/customers/?q=zeph").context["rows"]] == [mine]
    assert [r["customer"] for r in support.get("/customers/?segment=smb").context["rows"]] == [other]
    assert [r["customer"] for r in support.get("/customers/?account_manager=none").context["rows"]] == [other]
    assert [r["customer"] for r in support.get(f"/customers/?account_manager={users['am'].pk}").context["rows"]] == [
        mine
    ]
    assert [r["customer"] for r in support.get("/customers/?billing_model=postpaid").context["rows"]] == [mine]
    # htmx asks for the table only
    partial = support.get("/customers/?q=other", HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b"Other Co" in partial.content


def test_customer_page_lazy_loads_panels(clients):
    cust = f.customer("acme", "Acme")
    f.contract(cust, billing_anchor_day=15)
    response = clients["support"].get("/customers/acme/")
    html = response.content.decode()
    assert 'hx-get="/wallets/customers/acme/panel/"' in html and 'hx-trigger="load"' in html
    assert 'hx-get="/wallets/customers/acme/ledger-panel/"' in html
    assert response.context["terms"] is not None and "anchor day 15" in html
    assert "Issue credit" in clients["support"].get("/wallets/customers/acme/panel/").content.decode()
    assert "Issue credit" not in clients["am"].get("/wallets/customers/acme/panel/").content.decode()
    assert "Issue credit" in clients["support"].get("/wallets/customers/acme/ledger/").content.decode()
    assert "Edit terms" not in html
    assert "Edit terms" in clients["am"].get("/customers/acme/").content.decode()
    assert clients["support"].get("/customers/nope/").status_code == 404


def test_create_customer_and_contract_through_forms(clients, users):
    am = clients["am"]
    response = am.post(
        "/customers/new/",
        {
            "external_id": "newco",
            "name": "NewCo",
            "segment": "startup",
            "status": "trial",
            "account_manager": str(users["am"].pk),
        },
    )
    assert response.status_code == 302
    customer = Customer.objects.get(external_id="newco")
    assert customer.account_manager == users["am"] and customer.history.first().history_user == users["am"]
    assert (
        am.post(
            "/customers/new/", {"external_id": "newco", "name": "Dup", "segment": "startup", "status": "trial"}
        ).status_code
        == 400
    )
    table, meter = f.rate_table(), f.meter()
    response = am.post("/customers/newco/contracts/new/", contract_post(table, meter))
    assert response.status_code == 302, response.content.decode()[:2000]
    contract = Contract.objects.get(customer=customer)
    assert contract.starts_at == datetime(2026, 1, 1, tzinfo=UTC) and contract.currency == "USD"
    assert contract.billing_anchor_day == 31 and contract.overdraft_limit == D(500)
    assert contract.allowances.get().quantity == D(5_000_000)
    assert contract.overrides.get().multiplier == D("0.8")
    # an overlapping second contract is refused on the form, on the start field
    response = am.post("/customers/newco/contracts/new/", contract_post(table, meter, starts_on="2026-06-01"))
    assert response.status_code == 400
    assert "at most one contract" in " ".join(response.context["form"].errors["starts_on"])
    # row validation: a multiplier override without a multiplier
    response = am.post(
        "/customers/newco/contracts/new/",
        contract_post(table, meter, starts_on="2020-01-01", ends_on="2021-01-01", **{"override-0-multiplier": ""}),
    )
    assert response.status_code == 400


def test_edit_contract_needs_a_reason_and_shows_history(clients, users):
    cust = f.customer("acme", "Acme")
    table, meter = f.rate_table(), f.meter()
    contract = f.contract(cust, billing_model="hybrid", enforcement="soft", overdraft_limit=D(500))
    url = f"/customers/acme/contracts/{contract.pk}/edit/"
    assert clients["am"].get(url).status_code == 200
    response = clients["am"].post(url, contract_post(table, meter, change_reason="", base_fee="150"))
    assert response.status_code == 400 and "change_reason" in response.context["form"].errors
    response = clients["am"].post(url, contract_post(table, meter, change_reason="price increase", base_fee="150"))
    assert response.status_code == 302
    history = clients["support"].get(f"/customers/acme/contracts/{contract.pk}/history/")
    html = history.content.decode()
    assert "price increase" in html and "base_fee" in html and users["am"].username in html
    assert clients["support"].get("/customers/acme/contracts/").status_code == 200


def test_accounts_panel(clients, users):
    f.customer("acme", "Acme", account_manager_id=users["am"].pk)
    f.customer("beta", "Beta")
    html = clients["am"].get("/customers/panels/my-accounts/").content.decode()
    assert "Your accounts" in html and "Acme" in html and "Beta" not in html
    html = clients["finance"].get("/customers/panels/my-accounts/").content.decode()
    assert "Acme" in html and "Beta" in html
