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


def render_form(
    request, template: str, context: dict, *, forms=(), invalid: bool | None = None, partial_template: str | None = None
):
    """Answer a form view that did not redirect (a GET, or a POST with errors): the one rule for form errors.

    - An htmx request (not boosted) gets 200 whatever the errors, because htmx swaps only 2xx answers: the form
      (`partial_template`, else `template`) comes back with its errors in place and the user's input kept.
    - A full page gets 400 when the submission was invalid (any of `forms` has errors, or `invalid` says so),
      else 200.
    """
    if is_partial(request):
        return render(request, partial_template or template, context, status=200)
    if invalid is None:
        invalid = any(form.errors for form in forms)
    return render(request, template, context, status=400 if invalid else 200)


def redirect_after_post(request, url: str):
    """After a successful htmx form post, have htmx navigate (HX-Redirect); plain posts get a 302."""
    if is_partial(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
