"""Price protection on contracts (validated, shown, in history) and the panels contracts serves to catalog pages:
the draft's cohort editor and the per-version "contracts priced now" counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.catalog import services as catalog
from apps.catalog.cohorts import Cohort
from apps.contracts import selectors, services
from apps.contracts.models import Contract
from apps.core.errors import ValidationFailed
from tests.contracts.views.test_customer_pages import contract_post
from tests.usage.builders import ago

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(world):
    meter = world.meter("tokens")
    table = world.table("list")
    v1 = world.version(table, {meter: "1"}, effective_from=ago(days=60))
    old = world.customer("old", table, segment="smb")
    big = world.customer("big", table, segment="enterprise")
    v2 = world.version(
        table, {meter: "2"}, effective_from=ago(days=10), cohort=Cohort.CHOSEN, cohort_segments=["enterprise"]
    )
    fresh = world.customer("fresh", table, starts_at=ago(days=3))
    return {"world": world, "meter": meter, "table": table, "v1": v1, "v2": v2, "old": old, "big": big, "fresh": fresh}


def _contract(customer) -> Contract:
    return Contract.objects.get(customer=customer)


def _protect(s, customer, version_id, until, actor=None):
    return services.contract_update(
        contract_id=_contract(customer).pk,
        protected_version_id=version_id,
        protected_until=until,
        actor=actor or s["world"].finance,
        change_reason="protect",
    )


def test_protection_is_validated(setup, world):
    s = setup
    other_table = world.table("other")
    other = world.version(other_table, {s["meter"]: "9"}, effective_from=ago(days=5))
    draft = catalog.rate_table_version_create_draft(rate_table_id=s["table"].id, actor=world.owner)
    until = timezone.now() + timedelta(days=30)
    for version_id in (other.id, draft.id):  # another table's version; a draft
        with pytest.raises(ValidationFailed) as exc:
            _protect(s, s["old"], version_id, until)
        assert exc.value.field == "protected_version"
    with pytest.raises(ValidationFailed) as exc:
        _protect(s, s["old"], s["v1"].id, None)
    assert exc.value.field == "protected_until"
    with pytest.raises(ValidationFailed) as exc:
        _protect(s, s["old"], None, until)
    assert exc.value.field == "protected_version"
    with pytest.raises(ValidationFailed):
        _protect(s, s["old"], s["v1"].id, datetime(2019, 1, 1, tzinfo=UTC))  # before the contract starts
    contract = _protect(s, s["old"], s["v1"].id, until)
    assert (contract.protected_version_id, contract.protected_until) == (s["v1"].id, until)
    terms = selectors.contract_in_force(customer_id=s["old"].pk, at=timezone.now())
    assert terms.facts.protected_version_id == s["v1"].id and terms.facts.segment == "smb"
    changed = {c[0] for row in selectors.contract_history(contract_id=contract.pk) for c in row.changes}
    assert {"protected_version", "protected_until"} <= changed


def test_contracts_priced_by_version_follows_cohorts_and_protection(setup):
    s = setup
    now = timezone.now()
    assert selectors.contracts_priced_by_version(rate_table_id=s["table"].id, at=now) == {s["v1"].id: 1, s["v2"].id: 2}
    _protect(s, s["big"], s["v1"].id, now + timedelta(days=5))
    assert selectors.contracts_priced_by_version(rate_table_id=s["table"].id, at=now) == {s["v1"].id: 2, s["v2"].id: 1}
    choice = selectors.contract_version_choice(
        terms=selectors.contract_in_force(customer_id=s["big"].pk, at=now), at=now
    )
    assert choice.rule == "protected"


def test_counts_panel_on_the_rate_table_page(setup, clients):
    s = setup
    page = clients["finance"].get(f"/catalog/rate-tables/{s['table'].code}/")
    assert page.status_code == 200
    assert f"/customers/panels/rate-tables/{s['table'].pk}/contracts-priced/" in page.content.decode()
    panel = clients["finance"].get(f"/customers/panels/rate-tables/{s['table'].pk}/contracts-priced/")
    html = panel.content.decode()
    assert panel.status_code == 200
    assert 'data-version="2"' in html and "segments enterprise" in html
    rows = {
        chunk.split('"')[0]: chunk.split('data-testid="contracts-priced">')[1].split("<")[0]
        for chunk in html.split('data-version="')[1:]
    }
    assert rows == {"2": "2", "1": "1"}
    assert clients["support"].get(f"/customers/panels/rate-tables/{s['table'].pk}/contracts-priced/").status_code == 403


def test_cohort_panel_edits_a_draft_for_the_owner_only(setup, clients, world):
    s = setup
    draft = catalog.rate_table_version_create_draft(rate_table_id=s["table"].id, actor=world.owner)
    url = f"/customers/panels/versions/{draft.pk}/cohort/"
    assert url in clients["owner"].get(f"/catalog/versions/{draft.pk}/").content.decode()
    form = clients["owner"].get(url, HTTP_HX_REQUEST="true")
    assert form.status_code == 200 and 'id="cohort-form"' in form.content.decode()
    finance_view = clients["finance"].get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="cohort-form"' not in finance_view and "all contracts" in finance_view
    assert clients["finance"].post(url, {"cohort": "new_contracts"}).status_code == 403
    assert clients["support"].get(url).status_code == 403

    bad = clients["owner"].post(url, {"cohort": "chosen", "customers": "old, nobody"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 200 and "No customer with external id nobody" in bad.content.decode()
    empty = clients["owner"].post(url, {"cohort": "chosen"}, HTTP_HX_REQUEST="true")
    assert "Choose at least one customer or segment" in empty.content.decode()
    draft.refresh_from_db()
    assert draft.cohort == Cohort.ALL

    ok = clients["owner"].post(
        url,
        {"cohort": "chosen", "customers": "old fresh", "segments": ["startup"], "grandfather_until": "2031-01-01"},
        HTTP_HX_REQUEST="true",
    )
    assert ok.status_code == 200 and ok["HX-Trigger"] == "rates-changed"
    draft.refresh_from_db()
    assert (draft.cohort, draft.cohort_customers, draft.cohort_segments) == ("chosen", ["fresh", "old"], ["startup"])
    assert draft.grandfather_until == datetime(2031, 1, 1, tzinfo=UTC)
    detail = clients["owner"].get(f"/catalog/versions/{draft.pk}/").content.decode()
    assert "customers fresh, old" in detail  # in the diff against v2


def test_contract_form_sets_protection_and_the_customer_page_shows_the_rule(setup, clients):
    s = setup
    contract = _contract(s["old"])
    assert "grandfathered" in clients["finance"].get("/customers/old/").content.decode()
    assert "new contract" in clients["finance"].get("/customers/fresh/").content.decode()
    url = f"/customers/old/contracts/{contract.pk}/edit/"
    form = clients["finance"].get(url).content.decode()
    assert f'value="{s["v1"].pk}"' in form and "Price protection" in form
    data = contract_post(
        s["table"],
        s["meter"],
        starts_on="2020-01-01",
        billing_model="prepaid",
        enforcement="unlimited",
        overdraft_limit="0",
        protected_version=str(s["v2"].pk),
        protected_until="",
    )
    response = clients["finance"].post(url, data)
    assert response.status_code == 400 and "Say until when the price is protected" in response.content.decode()
    data["protected_until"] = (timezone.now() + timedelta(days=40)).date().isoformat()
    assert clients["finance"].post(url, data).status_code == 302
    contract.refresh_from_db()
    assert contract.protected_version_id == s["v2"].pk
    page = clients["finance"].get("/customers/old/").content.decode()
    assert "Priced now by" in page and "price protection: v2" in page
