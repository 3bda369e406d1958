"""Issue 13, items 1-5: tiers below cost flagged everywhere, tier changes visible to the reviewer, the row and
the diff refreshed after saving tiers, keyboard editing of the grid, and changes requested reaching the owner."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from apps.catalog import services
from apps.catalog.pricing import TierSpec
from tests.catalog.factories import MeterFactory, RateTableFactory, add_cost, approved_version
from tests.conftest import PASSWORD
from tests.e2e.waits import wait_for_js, wait_for_review_panels


def _world(actors, *, tiers=None):
    meter = MeterFactory(code="image.generations", unit="image")
    add_cost(meter, "0.10")
    table = RateTableFactory(code="list-usd", name="List prices (USD)")
    active = approved_version(
        table,
        {meter: "0.60"},
        maker=actors["owner2"],
        checker=actors["finance"],
        effective_from=timezone.now() - timedelta(days=10),
    )
    draft = services.rate_table_version_create_draft(rate_table_id=table.id, actor=actors["owner"])
    rate = draft.rates.get()
    if tiers:
        services.rate_update_field(rate_id=rate.id, field="pricing_model", value="graduated", actor=actors["owner"])
        services.rate_tiers_set(rate_id=rate.id, tiers=tiers, actor=actors["owner"])
    return {"meter": meter, "table": table, "active": active, "draft": draft, "rate": rate}


def _active_id(page) -> str:
    return page.evaluate(
        "document.activeElement && (document.activeElement.id || document.activeElement.getAttribute('aria-label') || document.activeElement.tagName)"
    )


def test_tiers_saved_by_keyboard_refresh_row_and_diff_and_flag_a_tier_below_cost(new_page, actors):
    w = _world(actors, tiers=[TierSpec(None, Decimal("0.60"))])
    rate = w["rate"]
    owner = new_page("owner", PASSWORD)
    owner.goto(f"/catalog/versions/{w['draft'].pk}/")
    row = owner.locator(f"#rate-main-{rate.pk}")
    assert "Tiers (1)" in row.inner_text() and "below cost" not in row.inner_text()

    # Enter on "Tiers" opens the editor with the first tier field focused.
    owner.focus(f"#r{rate.pk}-tiers")
    owner.keyboard.press("Enter")
    owner.wait_for_selector(f"#tiers-{rate.pk} input[name=up_to]")
    wait_for_js(owner, "document.activeElement && document.activeElement.getAttribute('aria-label') === 'Tier 1 up to'")
    # Left to right with the keyboard: tier 1 up to 1000 at 0.60, tier 2 open at 0.05 (below the 0.10 cost).
    owner.keyboard.type("1000")
    owner.keyboard.press("Tab")
    owner.keyboard.press("Control+a")
    owner.keyboard.type("0.60")
    owner.keyboard.press("Tab")
    owner.keyboard.press("Tab")
    assert _active_id(owner) == "Tier 2 up to"
    owner.keyboard.press("Tab")
    owner.keyboard.type("0.05")
    with owner.expect_response(lambda r: "/tiers/" in r.url and r.request.method == "POST"):
        owner.keyboard.press("Enter")
    owner.wait_for_selector("text=Tiers saved.")

    # The row's own line is fresh without a reload: two tiers, red, naming the tier below cost.
    wait_for_js(owner, f"document.querySelector('#rate-main-{rate.pk}').innerText.includes('Tiers (2)')")
    row = owner.locator(f"#rate-main-{rate.pk}")
    text = row.inner_text()
    assert "below cost" in text and "tier 2" in text and "lowest -100.0 %" in text
    assert "below-cost" in row.get_attribute("class")
    # The diff card refreshed too: the tiers old -> new, and the below-cost count.
    wait_for_js(owner, "document.querySelector('#diff-card').innerText.includes('1 below cost')")
    diff = owner.locator("#diff-card table.tier-diff").inner_text()
    assert "— → 1,000" in diff and "— → 0.05" in diff


def test_keyboard_edits_a_row_left_to_right_and_focus_follows(new_page, actors):
    w = _world(actors)
    rate = w["rate"]
    owner = new_page("owner", PASSWORD)
    owner.goto(f"/catalog/versions/{w['draft'].pk}/")
    owner.click(f"#r{rate.pk}-unit_price")
    owner.keyboard.press("Control+a")
    owner.keyboard.type("0.50")
    with owner.expect_response(lambda r: "/cell/" in r.url):
        owner.keyboard.press("Tab")
    # After the save the next cell (not <body>, not the next row) has the focus.
    wait_for_js(owner, f"document.activeElement.id === 'r{rate.pk}-price_per_units'")
    owner.keyboard.press("Control+a")
    owner.keyboard.type("10")
    with owner.expect_response(lambda r: "/cell/" in r.url):
        owner.keyboard.press("Tab")
    wait_for_js(owner, f"document.activeElement.id === 'r{rate.pk}-free_units'")
    owner.keyboard.press("Control+a")
    owner.keyboard.type("5")
    with owner.expect_response(lambda r: "/cell/" in r.url):
        owner.keyboard.press("Enter")
    wait_for_js(owner, f"document.querySelector('#r{rate.pk}-free_units').value === '5'")
    assert _active_id(owner) == f"r{rate.pk}-free_units"
    rate.refresh_from_db()
    assert (rate.unit_price, rate.price_per_units, rate.free_units) == (Decimal("0.5"), Decimal(10), Decimal(5))


def _second_cell_typed_while_the_first_saves(new_page, actors, *, settle_ms: int | None = None):
    """The owner types 0.50 into the price, Tab, and 10 into "per units" while the price's save is held back:
    (page, rate, the held route: continue it to let the first save answer)."""
    w = _world(actors)
    rate = w["rate"]
    owner = new_page("owner", PASSWORD)
    held = []
    owner.route("**/cell/", lambda route: held.append(route) if not held else route.continue_())
    owner.goto(f"/catalog/versions/{w['draft'].pk}/")
    if settle_ms is not None:
        owner.evaluate(f"htmx.config.defaultSettleDelay = {settle_ms}")
    owner.click(f"#r{rate.pk}-unit_price")
    owner.keyboard.press("Control+a")
    owner.keyboard.type("0.50")
    owner.keyboard.press("Tab")
    wait_for_js(owner, f"document.activeElement.id === 'r{rate.pk}-price_per_units'")
    owner.keyboard.press("Control+a")
    owner.keyboard.type("10")
    return owner, rate, held


def test_a_value_typed_while_the_previous_cell_saves_is_saved_by_enter(new_page, actors):
    # The row comes back from the first save only after the next cell has been typed into: what was typed is
    # put back into the fresh row, and Enter must still save it (a value set from script is not an "edit" to
    # the browser, so without help Enter would do nothing and the keystrokes would be lost silently).
    owner, rate, held = _second_cell_typed_while_the_first_saves(new_page, actors)
    assert len(held) == 1
    with owner.expect_response(lambda r: "/cell/" in r.url):
        held[0].continue_()
    wait_for_js(owner, f"document.querySelector('#r{rate.pk}-unit_price').classList.contains('saved')")
    assert owner.input_value(f"#r{rate.pk}-price_per_units") == "10"
    with owner.expect_response(lambda r: "/cell/" in r.url):
        owner.keyboard.press("Enter")
    rate.refresh_from_db()
    assert (rate.unit_price, rate.price_per_units) == (Decimal("0.5"), Decimal(10))


def test_enter_pressed_while_the_fresh_row_settles_saves_what_was_typed(new_page, actors):
    # htmx swaps the row in, then "settles" it a moment later. A keystroke can land between the two; what was typed
    # while the previous cell saved must already be back in the fresh field by then, or Enter finds nothing to save
    # and the value is never sent. The settle is stretched to 1.5 s here so that the gap is certain to be hit.
    owner, rate, held = _second_cell_typed_while_the_first_saves(new_page, actors, settle_ms=1500)
    held[0].continue_()
    # The fresh row is in (its first cell carries the "saved" mark from the server) but has not settled yet.
    wait_for_js(owner, f"document.querySelector('#r{rate.pk}-unit_price').classList.contains('saved')", interval_ms=10)
    assert owner.evaluate("document.querySelector('.htmx-settling') !== null")
    with owner.expect_response(lambda r: "/cell/" in r.url):
        owner.keyboard.press("Enter")
    rate.refresh_from_db()
    assert (rate.unit_price, rate.price_per_units) == (Decimal("0.5"), Decimal(10))


def test_reviewer_sees_tier_changes_and_a_below_cost_tier_in_the_banner(new_page, actors):
    # The version in force is already graduated (one open tier at 0.60); the draft splits it at 1000.
    w = _world(actors, tiers=[TierSpec(None, Decimal("0.60"))])
    services.rate_table_version_submit(
        version_id=w["draft"].id,
        effective_from=timezone.now() - timedelta(days=1),
        reason="Graduated",
        backdate_reason="test",
        actor=actors["owner"],
        now=timezone.now(),
    )
    w["draft"].refresh_from_db()
    services.rate_table_version_approve(
        version_id=w["draft"].id, content_hash=w["draft"].content_hash, actor=actors["finance"]
    )
    w["draft"] = services.rate_table_version_create_draft(rate_table_id=w["table"].id, actor=actors["owner"])
    services.rate_tiers_set(
        rate_id=w["draft"].rates.get().id,
        actor=actors["owner"],
        tiers=[TierSpec(Decimal(1000), Decimal("0.60")), TierSpec(None, Decimal("0.05"))],
    )
    services.rate_table_version_submit(
        version_id=w["draft"].id,
        effective_from=timezone.now() + timedelta(days=1),
        reason="Volume discount",
        actor=actors["owner"],
    )
    finance = new_page("finance", PASSWORD)
    finance.goto(f"/catalog/reviews/{w['draft'].pk}/")
    banner = finance.locator(".alert-bad").inner_text()
    assert "image.generations" in banner and "tier 2" in banner
    assert finance.locator(".stat:has-text('Below cost') .value").inner_text() == "1"
    diff = finance.locator("table.diff").inner_text()
    assert "changed" in diff and "4 -> 4" not in diff
    tiers = finance.locator("table.tier-diff").inner_text()
    assert "no bound → 1,000" in tiers and "— → 0.05" in tiers and "2 (new)" in tiers


def test_changes_requested_reach_the_owner_and_resubmitting_keeps_date_and_reason(new_page, actors):
    w = _world(actors)
    effective = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    services.rate_table_version_submit(
        version_id=w["draft"].id, effective_from=effective, reason="Image price up", actor=actors["owner"]
    )
    finance = new_page("finance", PASSWORD)
    finance.goto(f"/catalog/reviews/{w['draft'].pk}/")
    wait_for_review_panels(finance)
    finance.check("input[value=request_changes]")
    finance.fill("#id_comment", "Round to 0.65 please")
    finance.click("button:has-text('Record decision')")
    finance.wait_for_selector("text=Changes requested on")

    owner = new_page("owner", PASSWORD)
    owner.wait_for_selector(".changes-requested")
    panel = owner.locator(".changes-requested").inner_text()
    assert "List prices (USD) v" in panel and "finance" in panel and "Round to 0.65 please" in panel
    owner.goto("/catalog/rate-tables/")
    assert "requested by finance" in owner.locator("table").inner_text()
    owner.click("td a:has-text('v2')")
    assert owner.input_value("#id_effective_from") == effective.strftime("%Y-%m-%dT%H:%M")
    assert owner.input_value("#id_reason") == "Image price up"
    owner.click("button:has-text('Submit for approval')")
    owner.wait_for_selector(".messages >> text=submitted for approval")
    w["draft"].refresh_from_db()
    assert w["draft"].status == "pending_approval" and w["draft"].effective_from == effective
