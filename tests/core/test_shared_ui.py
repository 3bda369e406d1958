"""Shared UI pieces: one form answer (htmx gets 200 with the errors in place, a full page 400) and one
pagination bar that keeps the list's filters."""

import pytest

from apps.contracts.models import Customer
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db

DUPLICATE = {"external_id": "dup", "name": "Again", "segment": "startup", "status": "trial"}


def test_invalid_form_answers_htmx_with_200_and_the_errors_in_place(clients):
    f.customer("dup", "First")
    am = clients["am"]
    full = am.post("/customers/new/", DUPLICATE)
    assert full.status_code == 400
    htmx = am.post("/customers/new/", DUPLICATE, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200  # htmx swaps only 2xx answers
    html = htmx.content.decode()
    assert htmx.context["form"].errors and 'value="Again"' in html  # the input is kept, the error shown
    assert Customer.objects.filter(external_id="dup").count() == 1


def test_invalid_catalog_form_answers_htmx_with_200(clients):
    full = clients["owner"].post("/catalog/products/new/", {"code": "", "name": ""})
    assert full.status_code == 400
    htmx = clients["owner"].post("/catalog/products/new/", {"code": "", "name": ""}, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200 and htmx.context["form"].errors


def test_pagination_keeps_the_filters(clients):
    for n in range(30):
        f.customer(f"zz-{n:02d}", f"Zulu {n:02d}", segment="smb")
    f.customer("other", "Other", segment="enterprise")
    page1 = clients["support"].get("/customers/", {"segment": "smb"})
    html = page1.content.decode()
    assert page1.context["page"].paginator.count == 30
    assert "Page 1 of 2 · 30 customers" in html
    assert 'href="?segment=smb&amp;page=2"' in html and 'hx-target="#customer-table"' in html
    page2 = clients["support"].get("/customers/", {"segment": "smb", "page": "2"})
    assert [r["customer"].external_id for r in page2.context["rows"]] == [f"zz-{n:02d}" for n in range(25, 30)]
    assert 'href="?segment=smb&amp;page=1"' in page2.content.decode()
