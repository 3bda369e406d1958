"""Walk every page reachable from a persona's navigation: the nav pages, then one page of each kind linked from
them (a customer, a meter, a version, a review...). Shared by the accessibility test and `make screenshots`."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tests.e2e.waits import wait_for_js

SKIP = re.compile(r"/logout/|/api/|\.csv|/csv/|/export|format=csv|/static/|/admin/|/media/|#")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


ID_PARENTS = {
    "customers",
    "versions",
    "meters",
    "rate-tables",
    "alerts",
    "batches",
    "events",
    "products",
    "reviews",
    "contracts",
    "rules",
    "keys",
    "grants",
    "webhooks",
    "requests",
    "users",
    "buckets",
    "why",
}


WORDS = ID_PARENTS | {"new", "edit", "history", "credit-requests", "support-activity"}


def kind(path: str) -> str:
    """/customers/acme/ and /customers/globex/ are one kind of page: keep one of each."""
    parts = [p for p in urlsplit(path).path.split("/") if p]
    return "/".join(
        "N"
        if p.isdigit() or DATE.fullmatch(p) or "." in p or (i and parts[i - 1] in ID_PARENTS and p not in WORDS)
        else p
        for i, p in enumerate(parts)
    )


def login(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def _links(page, selector: str) -> list[str]:
    hrefs = page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('href'))")
    return [h for h in hrefs if h and h.startswith("/") and not SKIP.search(h)]


def settle(page) -> None:
    """Wait for the lazy panels (hx-trigger=load) and charts to be in place."""
    page.wait_for_load_state("networkidle")
    wait_for_js(page, "!document.querySelector('.loading') || performance.now() > 8000", timeout=10)


def pages_for(page, *, depth: int = 2, max_pages: int = 36, visit=None) -> list[str]:
    """The persona's nav pages, then (breadth first, `depth` clicks deep) one page of every kind linked from them.
    `visit(url, response)`, when given, is called on each page once it has settled (so a caller checks a page while
    the crawl is on it instead of loading it again)."""
    page.goto("/")
    frontier = ["/"] + _links(page, "header nav a")
    seen_kinds, result = set(), []
    for _level in range(depth + 1):
        found = []
        for url in frontier:
            if kind(url) in seen_kinds or len(result) >= max_pages:
                continue
            seen_kinds.add(kind(url))
            result.append(url)
            response = page.goto(url)
            settle(page)
            if visit is not None:
                visit(url, response)
            found.extend(_links(page, "main a[href]"))
        frontier = found
    return result


def main_links(page) -> list[str]:
    """The links in the page's main content (what a person can follow from it)."""
    return _links(page, "main a[href]")


def links_beyond(shown: list[str], urls: list[str]) -> list[str]:
    """Of the links `shown` on the crawled pages, one of each kind of page that is not among `urls`."""
    kinds, result = {kind(u) for u in urls}, []
    for href in shown:
        if kind(href) not in kinds:
            kinds.add(kind(href))
            result.append(href)
    return result
