"""Support issues a credit under the cap (the balance updates), one over the cap (it waits as a request), and a
finance approver approves it (the balance updates)."""

import re
import time

import pytest
from django.db import connection
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db(transaction=True)
SLOW = 20_000  # ms: panels load lazily, and CI machines are small


@pytest.fixture
def acme(users, settings):
    settings.RATEDESK = {
        **settings.RATEDESK,
        "SUPPORT_CREDIT_CAP_PER_GRANT": "500",
        "SUPPORT_CREDIT_CAP_PER_CUSTOMER_MONTH": "2000",
    }
    cust = f.customer("acme", "Acme Analytics", account_manager_id=users["am"].pk)
    f.contract(cust)
    return cust


def calm_for_sqlite(page):
    """On SQLite the live server's request threads share one in-memory connection (pytest-django/Django do that
    for in-memory test databases), so parallel lazy panels can collide ("bad parameter or other API misuse").
    There, skip the other apps' panels, which this journey does not look at, and let the ledger panel start a
    moment after the wallet panel. PostgreSQL runs everything as is."""
    if connection.vendor != "sqlite":
        return page
    page.wait_for_load_state("networkidle")  # the landing page's panels are done

    def handle(route):
        url = route.request.url
        if re.search(r"/(usage|dashboards|alerts|catalog)/customers/|/panels/", url):
            route.abort()
            return
        if "/ledger-panel/" in url:
            time.sleep(0.4)
        route.continue_()

    page.route("**/*", handle)
    return page


def issue_credit(page, amount: str, reference: str):
    page.locator("#panel-wallet").get_by_role("link", name="Issue credit").click()
    form = page.locator("#credit-form")
    expect(form).to_be_visible(timeout=SLOW)
    form.get_by_label("Credits").fill(amount)
    form.get_by_label("Reason").select_option("outage")
    form.get_by_label("Ticket reference").fill(reference)
    form.get_by_role("button", name="Issue credit").click()


def test_support_issues_credits_and_finance_approves_the_large_one(new_page, acme):
    page = calm_for_sqlite(new_page("support", PASSWORD))
    page.goto("/customers/acme/")
    balance = page.get_by_test_id("wallet-balance")
    expect(balance).to_have_text("0.00", timeout=SLOW)

    issue_credit(page, "200", "SUP-100")
    expect(page.locator("#panel-wallet .alert-ok")).to_contain_text("Issued 200 support credits", timeout=SLOW)
    expect(balance).to_have_text("200.00", timeout=SLOW)
    expect(page.locator("#panel-ledger")).to_contain_text("SUP-100", timeout=SLOW)  # the ledger panel refreshed

    issue_credit(page, "900", "SUP-101")
    expect(page.locator("#panel-wallet .alert-warn").first).to_contain_text(
        "waiting for a finance approver", timeout=SLOW
    )
    expect(balance).to_have_text("200.00", timeout=SLOW)
    expect(page.locator("#panel-wallet")).to_contain_text("1 credit request waiting for finance", timeout=SLOW)

    finance = calm_for_sqlite(new_page("finance", PASSWORD))
    badge = finance.locator("header nav a", has_text="Credit requests").locator(".badge")
    expect(badge).to_have_text("1", timeout=SLOW)
    finance.goto("/wallets/credit-requests/")
    row = finance.locator("tr", has_text="Acme Analytics").filter(has_text="SUP-101")
    expect(row).to_be_visible(timeout=SLOW)
    row.get_by_label("Comment").fill("EU outage, approved")
    finance.wait_for_load_state("networkidle")
    row.get_by_role("button", name="Approve").click()
    expect(finance.locator("tr", has_text="SUP-101")).to_contain_text(re.compile("Approved"), timeout=SLOW)

    finance.goto("/customers/acme/")
    expect(finance.get_by_test_id("wallet-balance")).to_have_text("1,100.00", timeout=SLOW)
    page.reload()
    expect(page.get_by_test_id("wallet-balance")).to_have_text("1,100.00", timeout=SLOW)
