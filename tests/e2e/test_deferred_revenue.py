"""Finance opens the deferred-revenue page from the navigation, reads the month's roll-forward and the waterfall
(opening, purchases, recognised, breakage, closing per month), and moves to the previous month."""

import json
import os
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.core.actors import SYSTEM
from apps.wallets.revenue import month_of
from apps.wallets.services import wallet_debit, wallet_expire_due
from tests.conftest import PASSWORD
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db(transaction=True)
SLOW = 20_000


@pytest.fixture
def ledger(users):
    """A paid pack bought last month, half used, expired this month with credits left (breakage)."""
    now = timezone.now()
    this_month = month_of(now)
    cust = f.customer("acme", "Acme Analytics")
    f.contract(cust)
    bought = this_month.start - timedelta(days=20)
    f.grant(cust, 1000, price_per_credit=Decimal("0.05"), effective_at=bought, expires_at=this_month.start)
    wallet_debit(
        customer_id=cust.pk, amount=Decimal(400), idempotency_key="e2e-d1", actor=SYSTEM, at=bought + timedelta(days=2)
    )
    wallet_expire_due(now=now)
    return cust


def test_finance_reads_the_deferred_revenue_waterfall(new_page, ledger):
    page = new_page("finance", PASSWORD)
    page.get_by_role("link", name="Deferred revenue").first.click()
    expect(page.get_by_role("heading", name="Deferred revenue", level=1)).to_be_visible()

    # This month: 600 credits x 0.05 expired unused on the 1st -> 30.00 of breakage, nothing left deferred.
    total = page.locator("#rollforward-total")
    expect(total).to_contain_text("$30.00")
    expect(page.locator("#rollforward tbody")).to_contain_text("Acme Analytics")
    cells = total.locator("td.num").all_inner_texts()
    assert cells[:6] == ["$30.00", "$0.00", "$0.00", "$30.00", "$0.00", "$0.00"]

    # The waterfall is drawn, and says the same as the table.
    figure = page.locator("#chart-waterfall")
    expect(figure.locator(".main-svg").first).to_be_visible(timeout=SLOW)
    spec = json.loads(page.locator("#chart-data-waterfall").text_content())
    trace = spec["data"][0]
    assert trace["type"] == "waterfall"
    months, steps = trace["x"]
    assert steps[:6] == ["Opening", "Purchased", "Recognised", "Breakage", "Adjustments", "Closing"]
    last = dict(zip(steps[-6:], trace["text"][-6:], strict=True))
    assert last == {
        "Opening": "$30.00",
        "Purchased": "$0.00",
        "Recognised": "$0.00",
        "Breakage": "-$30.00",
        "Adjustments": "$0.00",
        "Closing": "$0.00",
    }
    previous = dict(zip(steps[-12:-6], trace["text"][-12:-6], strict=True))
    assert previous["Purchased"] == "$50.00" and previous["Recognised"] == "-$20.00" and previous["Closing"] == "$30.00"
    if os.environ.get("RATEDESK_SHOT"):
        page.screenshot(path=os.environ["RATEDESK_SHOT"], full_page=True)

    # Last month: bought 50.00, recognised 20.00 on consumption, 30.00 deferred.
    page.get_by_role("link", name="←").click()
    expect(page.locator("#rollforward-total")).to_contain_text("$50.00")
    cells = page.locator("#rollforward-total td.num").all_inner_texts()
    assert cells[:6] == ["$0.00", "$50.00", "$20.00", "$0.00", "$0.00", "$30.00"]
