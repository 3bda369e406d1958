"""Trying a price change safely: the owner drafts a price rise, simulates it on real usage from the draft editor,
sees the bill-shock list and submits; finance sees the same simulation on the review page and approves."""

from __future__ import annotations

from apps.catalog.models import RateTableVersion, VersionStatus
from apps.usage.simulation.models import Simulation
from tests.conftest import PASSWORD
from tests.e2e.waits import wait_for_js
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
    finance.check("input[value=approve]")
    finance.fill("#id_comment", "Two customers rise by 50 %; account managers told")
    finance.click("button:has-text('Record decision')")
    finance.wait_for_selector("text=Approved")
    version.refresh_from_db()
    assert version.status == VersionStatus.APPROVED and version.decided_by == users["finance"]
