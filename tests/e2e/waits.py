"""Waiting on the page's state without `page.wait_for_function`: Playwright compiles that predicate with `eval` in
the page, which the app's Content-Security-Policy (script-src 'self', no 'unsafe-eval') rightly refuses.
`page.evaluate` of an expression goes through the DevTools protocol instead, so polling it works under the CSP."""

from __future__ import annotations

import time


def wait_for_js(page, expression: str, *, timeout: float = 15.0, interval_ms: int = 50) -> None:
    """Poll `expression` in the page until it is truthy; fail with the expression after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for: {expression}")
        page.wait_for_timeout(interval_ms)


def wait_for_review_panels(page) -> None:
    """The review page lazy-loads its simulation panel above the decision form; a click on the form while the panel
    grows lands wherever the form was a moment before (a radio "did not change its state"). Wait for it first."""
    page.wait_for_selector("#simulation #simulation-panel")
