"""One way to paginate a list page: the page plus the list's other query parameters, for
templates/partials/_pagination.html."""

from __future__ import annotations

from django.core.paginator import Page, Paginator


def paginate(request, items, per_page: int) -> tuple[Page, str]:
    """The requested page of `items` (out-of-range or bad numbers give the nearest page) and the request's
    query string without `page`, so the pagination links keep the filters."""
    page = Paginator(items, per_page).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()
