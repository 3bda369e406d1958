"""The monetization owner drafts and submits a price change; finance reviews the diff and approves it."""

from datetime import timedelta

from django.utils import timezone

from apps.catalog import selectors
from apps.catalog.models import RateTableVersion, VersionStatus
from tests.catalog.factories import MeterFactory, RateTableFactory, add_cost, approved_version
from tests.conftest import PASSWORD
from tests.e2e.waits import wait_for_js, wait_for_review_panels


def test_owner_drafts_edits_submits_and_finance_approves(new_page, users, actors):
    meter = MeterFactory(code="llm.input_tokens.fast", unit="token")
    add_cost(meter, "0.05", "1000000")
    table = RateTableFactory(code="list-usd", name="List prices (USD)")
    old = approved_version(
        table,
        {meter: "0.15"},
        maker=actors["owner"],
        checker=actors["finance"],
        effective_from=timezone.now() - timedelta(days=10),
        per_units="1000000",
    )

    owner = new_page("owner", PASSWORD)
    owner.goto("/catalog/rate-tables/")
    owner.click("text=List prices (USD)")
    owner.click("button:has-text('New draft')")
    owner.wait_for_url("**/catalog/versions/*/")
    cell = owner.locator("input[aria-label='Price of llm.input_tokens.fast']")
    cell.fill("0.12")
    with owner.expect_response(lambda r: "/cell/" in r.url and r.status == 200):
        cell.press("Tab")
    # The row was re-rendered by the server with the saved value and its margin.
    wait_for_js(
        owner, "document.querySelector(\"input[aria-label='Price of llm.input_tokens.fast']\").value === '0.12'"
    )
    assert "58.3 %" in owner.locator(".rate-row").first.inner_text()
    # A bad value shows an error in place and is not saved.
    cell = owner.locator("input[aria-label='Free units of llm.input_tokens.fast']")
    cell.fill("lots")
    cell.press("Tab")
    owner.wait_for_selector(".cell-error")
    assert "must be a number" in owner.locator(".cell-error").inner_text()

    effective = timezone.now() + timedelta(seconds=20)
    owner.fill("#id_effective_from", effective.strftime("%Y-%m-%dT%H:%M:%S"))
    owner.fill("#id_reason", "Match competitor pricing")
    owner.click("button:has-text('Submit for approval')")
    owner.wait_for_selector("text=submitted for approval")
    draft = RateTableVersion.objects.exclude(pk=old.pk).get()
    assert draft.status == VersionStatus.PENDING_APPROVAL

    finance = new_page("finance", PASSWORD)
    assert finance.locator("nav a:has-text('Reviews') .badge").inner_text() == "1"
    finance.click("nav >> text=Reviews")
    finance.click("td a.btn:has-text('Review')")
    diff = finance.locator("table.diff").inner_text()
    assert "0.15" in diff and "0.12" in diff and "-20.0 %" in diff
    wait_for_review_panels(finance)
    finance.check("input[value=approve]")
    finance.fill("#id_comment", "Margin still above 50 %")
    finance.check("#id_confirm_warnings")  # no simulation was run: approving says so explicitly
    finance.click("button:has-text('Record decision')")
    finance.wait_for_selector("text=Approved")
    draft.refresh_from_db()
    assert draft.status == VersionStatus.APPROVED and draft.decided_by == users["finance"]

    # Active only from its effective instant: before it, the old version prices events.
    tick = timedelta(microseconds=1)
    at = draft.effective_from
    assert selectors.rate_table_version_in_force(rate_table_id=table.id, at=at - tick).id == old.id
    assert selectors.rate_table_version_in_force(rate_table_id=table.id, at=at).id == draft.id
    owner.goto("/catalog/rate-tables/list-usd/")
    assert "Scheduled" in owner.locator("table").first.inner_text()
