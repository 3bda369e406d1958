"""`make screenshots`: the README's pictures of the main pages, taken by the browser test setup on the demo data
so they stay current. Skipped unless RATEDESK_SCREENSHOTS names the folder to write (docs/screenshots)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from apps.catalog.models import RateTableVersion
from tests.e2e.crawl import login, settle

OUT = os.environ.get("RATEDESK_SCREENSHOTS")
pytestmark = pytest.mark.skipif(not OUT, reason="set RATEDESK_SCREENSHOTS=docs/screenshots (make screenshots)")
WIDTH, HEIGHT = 1280, 860


def _save(page, name: str, *, selector: str | None = None) -> None:
    """A viewport (or element) capture, quantised to 256 colours: small PNGs that stay crisp for UI."""
    from PIL import Image

    raw = page.locator(selector).first.screenshot() if selector else page.screenshot()
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    if image.height > 1400:
        image = image.crop((0, 0, image.width, 1400))
    quantised = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    path = Path(OUT) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    quantised.save(path, optimize=True)


def _as(browser, live_server, username: str):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, base_url=live_server.url)
    context.set_default_timeout(30000)
    page = context.new_page()
    login(page, username, settings.RATEDESK["DEMO_PASSWORD"])
    return context, page


def test_screenshots_of_the_main_pages(browser, live_server, transactional_db):
    call_command("seed_demo", verbosity=0)

    context, page = _as(browser, live_server, "owner")
    page.goto("/catalog/rate-tables/credits/")
    page.click("button:has-text('New draft')")
    page.wait_for_url("**/catalog/versions/*/")
    settle(page)
    _save(page, "rate-table-grid")
    page.goto("/dashboards/margin/")
    page.wait_for_selector("#chart-heatmap .main-svg")
    settle(page)
    _save(page, "margin-heatmap", selector="#chart-heatmap")
    context.close()

    context, page = _as(browser, live_server, "finance")
    pending = RateTableVersion.objects.filter(status="pending_approval").order_by("-submitted_at").first()
    assert pending is not None, "the demo data has a price change waiting for approval"
    page.goto(f"/catalog/reviews/{pending.pk}/")
    page.wait_for_selector("#simulation form, #simulation table")
    settle(page)
    page.locator("#simulation").scroll_into_view_if_needed()
    page.wait_for_selector("#simulation table")
    _save(page, "review-with-simulation", selector="#simulation")
    context.close()

    context, page = _as(browser, live_server, "am")
    page.goto("/customers/")
    page.locator("main table a").first.click()
    page.wait_for_url("**/customers/*/")
    customer = page.url.rstrip("/").rsplit("/", 1)[-1]
    page.goto(f"/dashboards/customers/{customer}/")
    page.wait_for_selector("#chart-included .main-svg")
    settle(page)
    _save(page, "customer-consumption")
    context.close()

    total = sum(p.stat().st_size for p in Path(OUT).glob("*.png"))
    assert total < 1_200_000, f"screenshots weigh {total} bytes"
