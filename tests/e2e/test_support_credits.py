"""Support issues a credit under the cap (the balance updates), one over the cap (it waits as a request), and a
finance approver approves it (the balance updates)."""
import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db(transaction=True)
SLOW = 20_000  # ms: panels load lazily, and CI machines are small


@pytest.fixture
def acme(users, settings):
    settings.RATEDESK = {**settings.RATEDESK, "SUPPORT_CREDIT_CAP_PER_GRANT": "500",
                         "SUPPORT_CREDIT_CAP_PER_CUSTOMER_MONTH": "2000"}
    cust = f.customer("acme", "Acme Analytics", account_manager_id=users["am"].pk)
    f.contract(cust)
    return cust


def issue_credit(page, amount: str, reference: str):
    page.locator("#panel-wallet").get_by_role("link", name="Issue credit").click()
    form = page.locator("#credit-form")
    expect(form).to_be_visible(timeout=SLOW)
    form.get_by_label("Credits").fill(amount)
    form.get_by_label("Reason").select_option("outage")
    form.get_by_label("Ticket reference").fill(reference)
    form.get_by_role("button", name="Issue credit").click()


def test_support_issues_credits_and_finance_approves_the_large_one(new_page, acme):
    page = new_page("support", PASSWORD)
    page.goto("/customers/acme/")
    balance = page.get_by_test_id("wallet-balance")
    expect(balance).to_have_text("0.00", timeout=SLOW)

    issue_credit(page, "200", "SUP-100")
    expect(page.locator("#panel-wallet .alert-ok")).to_contain_text("Issued 200 support credits", timeout=SLOW)
    expect(balance).to_have_text("200.00", timeout=SLOW)
    expect(page.locator("#panel-ledger")).to_contain_text("SUP-100", timeout=SLOW)  # the ledger panel refreshed

    issue_credit(page, "900", "SUP-101")
    expect(page.locator("#panel-wallet .alert-warn").first).to_contain_text("waiting for a finance approver",
                                                                             timeout=SLOW)
    expect(balance).to_have_text("200.00", timeout=SLOW)
    expect(page.locator("#panel-wallet")).to_contain_text("1 credit request waiting for finance", timeout=SLOW)

    finance = new_page("finance", PASSWORD)
    badge = finance.locator("header nav a", has_text="Credit requests").locator(".badge")
    expect(badge).to_have_text("1", timeout=SLOW)
    finance.goto("/wallets/credit-requests/")
    row = finance.locator("tr", has_text="Acme Analytics").filter(has_text="SUP-101")
    expect(row).to_be_visible(timeout=SLOW)
    row.get_by_label("Comment").fill("EU outage, approved")
    row.get_by_role("button", name="Approve").click()
    expect(finance.locator("tr", has_text="SUP-101")).to_contain_text(re.compile("Approved"), timeout=SLOW)

    finance.goto("/customers/acme/")
    expect(finance.get_by_test_id("wallet-balance")).to_have_text("1,100.00", timeout=SLOW)
    page.reload()
    expect(page.get_by_test_id("wallet-balance")).to_have_text("1,100.00", timeout=SLOW)
