"""Finance closes last month: reviews its statements (the list, a customer's printable statement), closes the
period, and downloads the export (CSV and JSON), which carries the frozen content hash. The deferred-revenue
waterfall is another journey's."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from apps.usage.closing.selectors import close_in_force
from apps.usage.closing.statements import month_label
from tests.conftest import PASSWORD
from tests.usage.closing.conftest import month_world  # noqa: F401 - the fixture: last month's usage

pytestmark = pytest.mark.django_db(transaction=True)
SLOW = 20_000


def test_finance_reviews_closes_and_downloads_last_month(new_page, month_world):  # noqa: F811
    label = month_label(month_world.month)
    page = new_page("finance", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Periods").click()
    row = page.get_by_test_id(f"period-{label}")
    expect(row).to_contain_text("Open")
    row.get_by_role("link", name="Review and close").click()

    # review: every customer's statement, then one printable statement
    statements = page.get_by_test_id("period-statements")
    expect(statements.get_by_test_id("statement-acme")).to_contain_text("120.01")
    expect(statements.get_by_test_id("statement-beta")).to_contain_text("12.50")
    statements.get_by_test_id("statement-acme").get_by_role("link", name="Statement").click()
    sheet = page.get_by_test_id("printable-statement")
    expect(sheet).to_contain_text("Draft: this period is open")
    expect(sheet.get_by_test_id("amount-due")).to_have_text("120.01 USD")
    page.emulate_media(media="print")
    expect(page.locator("header.topbar")).to_be_hidden()
    expect(page.get_by_test_id("print-statement")).to_be_hidden()
    page.emulate_media(media="screen")
    page.go_back()

    # close (the confirmation dialog is accepted)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("close-period").click()
    expect(page.locator(".messages")).to_contain_text(f"{label} is closed: 2 statements frozen", timeout=SLOW)
    expect(page.get_by_test_id("period-status")).to_have_text("Closed")
    period = close_in_force(month=month_world.month)
    expect(page.get_by_test_id("period-hash")).to_have_text(period.content_hash)

    # download the export
    with page.expect_download() as csv_download:
        page.get_by_test_id("export-csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(csv_download.value.path()).read_text())))
    assert {r["customer"] for r in rows} == {"acme", "beta"}
    assert f"{label}:acme:usage:llm.tokens" in {r["line_id"] for r in rows}
    with page.expect_download() as json_download:
        page.get_by_test_id("export-json").click()
    body = json.loads(Path(json_download.value.path()).read_text())
    assert body["content_hash"] == period.content_hash and body["period"] == label

    # the period list shows who closed it
    page.get_by_role("link", name="Billing periods").click()
    expect(page.get_by_test_id(f"period-{label}")).to_contain_text("finance")

    # and reads the deferred revenue waterfall (opening, purchases, recognised, breakage, closing per month)
    page.get_by_role("link", name="Deferred revenue").first.click()
    expect(page.get_by_role("heading", name="Deferred revenue", level=1)).to_be_visible()
    expect(page.locator("#chart-waterfall .main-svg").first).to_be_visible(timeout=SLOW)
    spec = json.loads(page.locator("#chart-data-waterfall").text_content())
    assert spec["data"][0]["type"] == "waterfall"
    assert spec["data"][0]["x"][1][:6] == ["Opening", "Purchased", "Recognised", "Breakage", "Adjustments", "Closing"]
