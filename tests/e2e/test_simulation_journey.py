"""Trying a price change safely: the owner drafts a price rise, simulates it on real usage from the draft editor,
sees the bill-shock list and submits; finance sees the same simulation on the review page and approves. And a staged
rollout: the owner limits a price change to new customers; grandfathered customers keep the old price."""

from __future__ import annotations

from apps.catalog.models import RateTableVersion, VersionStatus
from apps.usage.models import RatedUsage, UsageEvent
from apps.usage.simulation.models import Simulation
from tests.conftest import PASSWORD
from tests.e2e.waits import wait_for_js, wait_for_review_panels
from tests.usage.builders import ago, ingest, rate


def test_owner_simulates_submits_and_finance_approves(new_page, world, users):
    tokens = world.meter("llm.tokens", cost="0.001")
    table = world.table("list-usd")
    world.version(table, {tokens: "0.01"}, effective_from=ago(days=90))
    heavy = world.customer("heavy", table, billing_model="postpaid")
    light = world.customer("light", table, billing_model="postpaid")
    ingest(
        [world.event(heavy, tokens, 5000, ago(days=d, hours=1)) for d in range(6)]
        + [world.event(light, tokens, 50, ago(days=1, hours=3))]
    )
    rate()

    owner = new_page("owner", PASSWORD)
    owner.goto(f"/catalog/rate-tables/{table.code}/")
    owner.click("button:has-text('New draft')")
    owner.wait_for_url("**/catalog/versions/*/")
    cell = owner.locator(f"input[aria-label='Price of {tokens.code}']")
    cell.fill("0.015")
    # The saved cell refreshes the simulation panel ("rates-changed"): let that refresh land before running one.
    with (
        owner.expect_response(lambda r: "/usage/simulations/versions/" in r.url and r.request.method == "GET"),
        owner.expect_response(lambda r: "/cell/" in r.url and r.status == 200),
    ):
        cell.press("Tab")
    owner.wait_for_selector("#simulation-none")
    owner.click("#run-simulation")
    owner.wait_for_selector("#bill-shock")
    shock = owner.locator("#bill-shock").inner_text()
    assert "heavy" in shock and "light" in shock and "+50.0 %" in shock
    # The chart of winners and losers is drawn by the vendored plotly.js.
    wait_for_js(owner, "!!document.querySelector('#simulation-panel .dash-plot .main-svg')", timeout=30)
    assert owner.locator("#simulation-meters").inner_text().count(tokens.code) == 1

    owner.fill("#id_effective_from", ago(days=-2).strftime("%Y-%m-%dT%H:%M"))
    owner.fill("#id_reason", "Tokens cost us more")
    owner.click("button:has-text('Submit for approval')")
    owner.wait_for_selector("text=submitted for approval")
    version = RateTableVersion.objects.get(rate_table=table, status=VersionStatus.PENDING_APPROVAL)
    simulation = Simulation.objects.get(version=version)
    assert simulation.state == Simulation.State.DONE

    finance = new_page("finance", PASSWORD)
    finance.goto(f"/catalog/reviews/{version.pk}/")
    finance.wait_for_selector("#simulation-panel #bill-shock")
    assert "fresh" in finance.locator("#simulation-summary").inner_text()
    assert finance.locator("#approval-warnings").count() == 0  # a fresh simulation: nothing to confirm
    wait_for_review_panels(finance)
    finance.check("input[value=approve]")
    finance.fill("#id_comment", "Two customers rise by 50 %; account managers told")
    finance.click("button:has-text('Record decision')")
    finance.wait_for_selector("text=Approved")
    version.refresh_from_db()
    assert version.status == VersionStatus.APPROVED and version.decided_by == users["finance"]


def test_owner_rolls_out_to_new_customers_only_and_grandfathered_customers_keep_the_old_price(new_page, world, users):
    """The owner limits the rollout to new customers and submits; finance sees the cohort in the diff and approves;
    a grandfathered customer's next event is priced by the old version, a new customer's by the new one."""
    tokens = world.meter("llm.tokens", cost="0.001")
    table = world.table("list-usd")
    world.version(table, {tokens: "0.01"}, effective_from=ago(days=90))
    loyal = world.customer("loyal", table, billing_model="postpaid")
    ingest([world.event(loyal, tokens, 1000, ago(days=d, hours=1)) for d in range(3, 6)])
    rate()

    owner = new_page("owner", PASSWORD)
    owner.goto(f"/catalog/rate-tables/{table.code}/")
    owner.click("button:has-text('New draft')")
    owner.wait_for_url("**/catalog/versions/*/")
    cell = owner.locator(f"input[aria-label='Price of {tokens.code}']")
    cell.fill("0.02")
    with owner.expect_response(lambda r: "/cell/" in r.url and r.status == 200):
        cell.press("Tab")
    owner.wait_for_selector("#cohort-form")
    owner.check("input[name=cohort][value=new_contracts]")
    # Saving the cohort refreshes the simulation panel ("rates-changed"): let that refresh land before running one.
    with owner.expect_response(lambda r: "/usage/simulations/versions/" in r.url and r.request.method == "GET"):
        owner.click("#cohort-save")
    saved = owner.wait_for_selector("[data-testid=cohort-saved]")
    assert "new contracts only" in saved.inner_text()
    owner.wait_for_selector("#simulation-none")
    owner.click("#run-simulation")
    owner.wait_for_selector("#simulation-summary")
    assert owner.locator("#bill-shock").count() == 0  # the only customer so far is grandfathered: no bill moves
    owner.fill("#id_effective_from", ago(days=2).strftime("%Y-%m-%dT%H:%M"))
    owner.fill("#id_reason", "New list price for new customers; existing ones keep theirs")
    owner.fill("#id_backdate_reason", "Signed with new customers since Monday")
    owner.click("button:has-text('Submit for approval')")
    owner.wait_for_selector("text=submitted for approval")
    version = RateTableVersion.objects.get(rate_table=table, status=VersionStatus.PENDING_APPROVAL)
    assert version.cohort == "new_contracts"

    finance = new_page("finance", PASSWORD)
    finance.goto(f"/catalog/reviews/{version.pk}/")
    cohort = finance.locator("[data-testid=diff-cohort]").first.inner_text()
    assert "all contracts" in cohort and "new contracts only" in cohort  # old -> new, part of what is approved
    wait_for_review_panels(finance)
    finance.check("input[value=approve]")
    finance.fill("#id_comment", "Existing customers grandfathered until renewal")
    finance.click("button:has-text('Record decision')")
    finance.wait_for_selector("text=Approved")
    version.refresh_from_db()
    assert version.status == VersionStatus.APPROVED

    newbie = world.customer("newbie", table, billing_model="postpaid", starts_at=ago(days=1))
    ingest([world.event(c, tokens, 1000, ago(minutes=5), id=f"next-{c.external_id}") for c in (loyal, newbie)])
    rate()
    charged = {
        r.customer_id: r.rate_version.number
        for r in RatedUsage.objects.filter(event_ref__startswith="next-", superseded_at__isnull=True).select_related(
            "rate_version"
        )
    }
    assert charged == {loyal.pk: version.number - 1, newbie.pk: version.number}

    event = UsageEvent.objects.get(customer=loyal, event_id="next-loyal")
    finance.goto(f"/usage/events/{event.pk}/")
    assert "grandfathered" in finance.locator("[data-testid=version-rule]").inner_text()
    finance.goto(f"/catalog/rate-tables/{table.code}/")
    finance.wait_for_selector("[data-testid=version-counts]")
    counts = {
        row.get_attribute("data-version"): row.locator("[data-testid=contracts-priced]").inner_text()
        for row in finance.locator("[data-testid=version-counts] tr[data-version]").all()
    }
    assert counts == {str(version.number): "1", str(version.number - 1): "1"}
