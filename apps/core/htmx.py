"""One view serves the full page or its htmx partial."""
from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect, render


def is_partial(request) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


def render_page_or_partial(request, page_template: str, partial_template: str, context: dict, status: int = 200):
    template = partial_template if is_partial(request) else page_template
    return render(request, template, context, status=status)


def redirect_after_post(request, url: str):
    """After a successful htmx form post, have htmx navigate (HX-Redirect); plain posts get a 302."""
    if is_partial(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
