"""Issue 13, items 13-14: every page reachable from each persona's navigation, at 1400 and 1024 px, has no
critical or serious axe-core violation, no horizontal scroll, and opens (no link a role is shown answers 403).

Runs on the demo data (seed_demo, seeded once for all roles), so the pages carry real tables, charts and alerts.
Each page is checked at 1400 px while the crawl is on it, then loaded once more at 1024 px."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command

from tests.e2e.crawl import links_beyond, login, main_links, pages_for, settle

ROLES = ["owner", "finance", "am", "support", "admin"]
WIDE, NARROW = 1400, 1024


@pytest.fixture
def demo(transactional_db):
    call_command("seed_demo", verbosity=0)
    return settings.RATEDESK["DEMO_PASSWORD"]


def _problems(page, axe, url: str, width: int) -> list[str]:
    problems = []
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 0:
        problems.append(f"{url} at {width} px scrolls sideways by {overflow} px")
    for violation in axe.run(page).response["violations"]:
        if violation["impact"] in ("critical", "serious"):
            targets = ", ".join(str(n["target"]) for n in violation["nodes"][:3])
            problems.append(
                f"{url} at {width} px: {violation['impact']} {violation['id']} "
                f"({len(violation['nodes'])} nodes: {targets})"
            )
    return problems


def _walk(browser, base_url: str, axe, role: str, password: str) -> list[str]:
    context = browser.new_context(viewport={"width": WIDE, "height": 900}, base_url=base_url)
    context.set_default_timeout(20000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    problems: list[str] = []
    shown: list[str] = []

    def check(url: str, response) -> None:
        if response.status != 200:
            problems.append(f"{url} answers {response.status} to {role}, yet {role} is shown a link to it")
            return
        problems.extend(_problems(page, axe, url, WIDE))
        shown.extend(main_links(page))

    try:
        login(page, role, password)
        urls = pages_for(page, visit=check)
        assert len(urls) >= 4, urls
        page.set_viewport_size({"width": NARROW, "height": 900})
        for url in urls:
            response = page.goto(url)
            if response.status == 200:
                settle(page)
                problems.extend(_problems(page, axe, url, NARROW))
        for url in links_beyond(shown, urls):  # shown a link, the role may open it
            status = page.request.get(url).status
            if status in (401, 403):
                problems.append(f"{role} is shown a link to {url}, which answers {status}")
        problems.extend(f"page error for {role}: {e}" for e in errors)
    finally:
        context.close()
    return [f"[{role}] {p}" for p in problems]


def test_every_page_of_every_persona_is_accessible_and_fits(browser, live_server, demo):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    problems: list[str] = []
    for role in ROLES:
        problems.extend(_walk(browser, live_server.url, axe, role, demo))
    assert not problems, "\n".join(problems)
