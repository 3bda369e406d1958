"""One view serves the full page or its htmx partial."""
from __future__ import annotations

from django.shortcuts import render


def is_partial(request) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


def render_page_or_partial(request, page_template: str, partial_template: str, context: dict, status: int = 200):
    template = partial_template if is_partial(request) else page_template
    return render(request, template, context, status=status)
