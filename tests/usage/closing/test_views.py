"""Finance pages per role: the period list and page, Close (finance only), reopening with a second approver, the
printable statement, and the CSV/JSON downloads of a closed period."""

from __future__ import annotations

import csv
import io
import json

import pytest

from apps.usage.closing import selectors
from apps.usage.closing.models import ReopenRequest
from apps.usage.closing.statements import month_label

pytestmark = pytest.mark.django_db


def test_pages_per_role(month_world, clients):
    label = month_label(month_world.month)
    for who in ("finance", "owner", "am", "support"):
        assert clients[who].get("/usage/periods/").status_code == 200
        page = clients[who].get(f"/usage/periods/{label}/")
        assert page.status_code == 200
        assert (b'data-testid="close-period"' in page.content) == (who == "finance")
        assert clients[who].get(f"/usage/periods/{label}/customers/acme/").status_code == 200
    for url in ("/usage/periods/", f"/usage/periods/{label}/", f"/usage/periods/{label}/customers/acme/"):
        assert clients["admin"].get(url).status_code == 403
        assert clients["anonymous"].get(url).status_code == 302
    for who in ("owner", "am", "support", "admin"):
        assert clients[who].post(f"/usage/periods/{label}/close/").status_code == 403
    assert selectors.close_in_force(month=month_world.month) is None
    assert clients["finance"].get("/usage/periods/2026-13/").status_code == 404
    assert clients["finance"].get(f"/usage/periods/{label}/customers/nobody/").status_code == 404


def test_finance_closes_then_downloads_stable_exports(month_world, clients):
    label = month_label(month_world.month)
    c = clients["finance"]
    assert c.get(f"/usage/periods/{label}/export.csv").status_code == 302  # not closed yet: back with a message
    response = c.post(f"/usage/periods/{label}/close/", follow=True)
    assert response.status_code == 200 and b"is closed" in response.content
    period = selectors.close_in_force(month=month_world.month)
    assert period.content_hash.encode() in response.content and b"Hash verified" in response.content
    first = c.get(f"/usage/periods/{label}/export.csv")
    assert first.status_code == 200 and first["Content-Type"].startswith("text/csv")
    assert first.content == c.get(f"/usage/periods/{label}/export.csv").content
    rows = list(csv.DictReader(io.StringIO(first.content.decode())))
    assert {r["customer"] for r in rows} == {"acme", "beta"}
    assert all(r["line_id"].startswith(f"{label}:{r['customer']}:") for r in rows)
    body = json.loads(c.get(f"/usage/periods/{label}/export.json").content)
    assert body["content_hash"] == period.content_hash
    assert [r["line_id"] for r in body["lines"]] == [r["line_id"] for r in rows]
    printable = c.get(f"/usage/periods/{label}/customers/acme/")
    assert b"css/print.css" in printable.content and b'data-testid="amount-due"' in printable.content
    assert c.get(f"/usage/periods/{label}/export.xml").status_code == 404


def test_reopen_through_the_pages_needs_a_second_finance_user(month_world, clients):
    label = month_label(month_world.month)
    clients["finance"].post(f"/usage/periods/{label}/close/")
    no_reason = clients["finance"].post(f"/usage/periods/{label}/reopen/", {"reason": ""}, follow=True)
    assert b"Say why" in no_reason.content
    clients["finance"].post(f"/usage/periods/{label}/reopen/", {"reason": "price fix"})
    request = ReopenRequest.objects.get(status="pending")
    page = clients["finance"].get(f"/usage/periods/{label}/")
    assert b"cannot approve your own request" in page.content and b'data-testid="approve-reopen"' not in page.content
    own = clients["finance"].post(f"/usage/periods/reopen/{request.pk}/approve/", follow=True)
    assert b"second finance approver" in own.content
    assert selectors.close_in_force(month=month_world.month) is not None
    assert clients["am"].post(f"/usage/periods/reopen/{request.pk}/approve/").status_code == 403
    clients["finance2"].post(f"/usage/periods/reopen/{request.pk}/approve/")
    assert selectors.close_in_force(month=month_world.month) is None
