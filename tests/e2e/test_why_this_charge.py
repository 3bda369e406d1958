"""An account manager opens a customer, follows a charge from the usage panel and reads why it costs what it
costs: the approved version, the override, the tier and the grants drawn."""

from __future__ import annotations

import re

from tests.conftest import PASSWORD
from tests.usage.builders import World, ago, ingest, rate


def test_account_manager_follows_a_charge_to_its_approval(new_page, actors):
    world = World(actors)
    tokens = world.meter("llm.input_tokens", cost="0.0001")
    table = world.table("credits-book", unit="credits")
    world.version(
        table,
        {tokens: {"model": "graduated", "tiers": [(1000, "0.01", "0"), (None, "0.005", "0")]}},
        effective_from=ago(days=30),
    )
    world.customer(
        "acme",
        table,
        credits="500",
        price_per_credit="0.2",
        allowances={tokens: "100"},
        overrides={tokens: ("multiplier", "0.9")},
    )
    from apps.contracts.models import Customer

    acme = Customer.objects.get(external_id="acme")
    ingest(
        [
            world.event(acme, tokens, 800, ago(hours=2), id="evt-1", user="u-7"),
            world.event(acme, tokens, 800, ago(hours=1), id="evt-2", agent="summarizer"),
        ]
    )
    rate()

    page = new_page("am", PASSWORD)
    page.goto("/customers/acme/")
    panel = page.locator("#panel-usage")
    panel.locator("[data-testid=charge-link]").first.wait_for()
    assert "llm.input_tokens" in panel.inner_text()
    panel.locator("[data-testid=charge-link]", has_text="evt-2").click()
    page.wait_for_url(re.compile(r"/usage/events/\d+/"))
    assert "Why this charge" in page.locator("h1").inner_text()
    assert page.locator("[data-testid=charge-amount]").inner_text().startswith("4.50")
    assert "v1" in page.locator("[data-testid=version-link]").inner_text()
    version_card = page.locator("#step-version")
    assert "Approved" in version_card.inner_text() and "Finance" in version_card.inner_text()
    assert "× 0.9 of list price" in page.locator("[data-testid=override]").inner_text()
    assert "800" in page.locator("#step-tier").inner_text()
    assert "purchased" in page.locator("#step-grants").inner_text()
    # and from there to the day of that meter
    page.locator(".breadcrumbs a", has_text="llm.input_tokens").click()
    page.wait_for_url(re.compile(r"/usage/customers/acme/\d{4}-\d{2}-\d{2}/llm.input_tokens/"))
    assert "How it was priced" in page.content()
