"""Catalog pages: the review queue, a version's review and the price-changes panel."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render

from apps.core.actors import Actor
from apps.core.errors import DomainError, add_domain_error_to_form
from apps.core.htmx import render_form
from apps.core.permissions import capability_required, user_can
from apps.core.roles import Cap

from .. import review, selectors, services
from ..approval_checks import approval_warnings
from ..forms import (
    ReviewForm,
)
from .base import EDIT
from .versions import _version_or_404

# ---- finance: review queue and review page --------------------------------------------------------


@capability_required(Cap.RATES_APPROVE)
def review_queue(request):
    return render(request, "catalog/review_queue.html", {"versions": selectors.review_queue()})


@capability_required(Cap.RATES_APPROVE)
def review_detail(request, pk: int):
    version = _version_or_404(pk)
    warnings = approval_warnings(version_id=version.id) if version.status == "pending_approval" else []
    form = ReviewForm(request.POST or None, initial={"content_hash": version.content_hash}, warnings=warnings)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        actor = Actor.from_request(request)
        try:
            if d["decision"] == "approve":
                services.rate_table_version_approve(
                    version_id=version.id, content_hash=d["content_hash"], actor=actor, comment=d["comment"]
                )
                done = f"Approved {version}. It takes effect {version.effective_from:%Y-%m-%d %H:%M} UTC."
            elif d["decision"] == "request_changes":
                services.rate_table_version_request_changes(version_id=version.id, comment=d["comment"], actor=actor)
                done = f"Changes requested on {version}."
            else:
                services.rate_table_version_reject(version_id=version.id, comment=d["comment"], actor=actor)
                done = f"Rejected {version}."
        except DomainError as exc:
            add_domain_error_to_form(form, exc)
        else:
            messages.success(request, done)
            return redirect("catalog:review-queue")
    context = {
        "version": version,
        "diff": review.version_diff(version_id=version.id),
        "form": form,
        "decisions": selectors.version_decisions(version_id=version.id),
        "timeline": review.version_timeline(version_id=version.id),
        "is_own": request.user.pk in selectors.version_contributor_ids(version),
        "warnings": warnings,
    }
    return render_form(request, "catalog/review_detail.html", context, forms=[form])


@capability_required(EDIT, Cap.RATES_APPROVE)
def panel_price_changes(request):
    context = {"pending": selectors.review_queue()[:8]}
    if user_can(request.user, EDIT):
        context["changes_requested"] = selectors.changes_requested_list()
    return render(request, "catalog/_panel_price_changes.html", context)
