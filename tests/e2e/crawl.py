"""Walk every page reachable from a persona's navigation: the nav pages, then one page of each kind linked from
them (a customer, a meter, a version, a review...). Shared by the accessibility test and `make screenshots`."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

SKIP = re.compile(r"/logout/|/api/|\.csv|/csv/|/export|format=csv|/static/|/admin/|/media/|#")
NUMBER = re.compile(r"/\d+(?=/|$)")


ID_PARENTS = {"customers", "versions", "meters", "rate-tables", "alerts", "batches", "events", "products", "reviews",
              "contracts", "rules", "keys", "grants", "webhooks", "requests", "users", "buckets", "why"}


def kind(path: str) -> str:
    """/customers/acme/ and /customers/globex/ are one kind of page: keep one of each."""
    parts = [p for p in urlsplit(path).path.split("/") if p]
    return "/".join("N" if p.isdigit() or (i and parts[i - 1] in ID_PARENTS) else p for i, p in enumerate(parts))


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
    page.wait_for_function("!document.querySelector('.loading') || document.querySelectorAll('.loading').length === 0"
                           " || performance.now() > 8000", timeout=10000)


def pages_for(page, *, max_pages: int = 40) -> list[str]:
    """The persona's nav pages, then one page of every kind linked from the nav pages' content."""
    page.goto("/")
    nav = ["/"] + _links(page, "header nav a")
    seen_kinds, result = set(), []
    for url in nav:
        if kind(url) not in seen_kinds:
            seen_kinds.add(kind(url))
            result.append(url)
    for url in list(result):
        page.goto(url)
        settle(page)
        for href in _links(page, "main a[href]"):
            if len(result) >= max_pages:
                return result
            k = kind(href)
            if k not in seen_kinds:
                seen_kinds.add(k)
                result.append(href)
    return result
