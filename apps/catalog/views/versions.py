"""Catalog pages: rate tables, their versions and the rates of a draft."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.actors import Actor
from apps.core.errors import DomainError, add_domain_error_to_form
from apps.core.htmx import is_partial, redirect_after_post
from apps.core.permissions import capability_required, user_can
from apps.core.roles import Cap

from .. import review, selectors, services
from ..forms import (
    AsOfForm,
    RateTableForm,
    SubmitForm,
    submit_form_for,
)
from ..models import Rate, RateTable, RateTableVersion
from ..pricing import PRICING_MODELS, TIERED_MODELS
from .base import EDIT, VIEW
from .products import _model_form_view

# ---- rate tables --------------------------------------------------------------------------------


@capability_required(VIEW)
def rate_table_list(request):
    return render(request, "catalog/rate_table_list.html", {"tables": selectors.rate_table_list()})


@capability_required(EDIT)
def rate_table_create(request):
    actor = Actor.from_request(request)

    def save(form):
        d = form.cleaned_data
        return services.rate_table_create(
            actor=actor,
            code=d["code"],
            name=d["name"],
            pricing_unit=d["pricing_unit"],
            description=d["description"],
            currency_per_unit=d["currency_per_unit"],
        )

    return _model_form_view(
        request,
        form_class=RateTableForm,
        instance=None,
        save=save,
        template="catalog/form.html",
        title="New rate table",
        success_url=lambda o: reverse("catalog:rate-table-detail", args=[o.code]),
        extra={"cancel_url": reverse("catalog:rate-table-list")},
    )


@capability_required(VIEW)
def rate_table_detail(request, code: str):
    table = selectors.rate_table_get(code=code)
    if table is None:
        raise Http404
    as_of_form = AsOfForm(request.GET or None)
    at = as_of_form.instant()
    in_force = selectors.rate_table_version_in_force_id(rate_table_id=table.id, at=at)
    context = {
        "table": table,
        "versions": selectors.rate_table_versions(rate_table_id=table.id),
        "timeline": selectors.rate_table_timeline(rate_table_id=table.id),
        "as_of_form": as_of_form,
        "as_of": at,
        "as_of_given": bool(request.GET.get("as_of")),
        "in_force": selectors.version_get(version_id=in_force) if in_force else None,
        "in_force_rows": selectors.version_rate_rows(version_id=in_force, at=at) if in_force else [],
    }
    if is_partial(request) and request.GET.get("as_of") is not None:
        return render(request, "catalog/_as_of.html", context)
    return render(request, "catalog/rate_table_detail.html", context)


@require_POST
@capability_required(EDIT)
def rate_table_new_draft(request, code: str):
    table = get_object_or_404(RateTable, code=code)
    try:
        draft = services.rate_table_version_create_draft(rate_table_id=table.id, actor=Actor.from_request(request))
    except DomainError as exc:
        messages.error(request, exc.message)
        if exc.extra.get("version_id"):
            return redirect("catalog:version-detail", pk=exc.extra["version_id"])
        return redirect("catalog:rate-table-detail", code=code)
    messages.success(
        request, f"Draft v{draft.number} created from the active version. Edit the cells; each saves on its own."
    )
    return redirect("catalog:version-detail", pk=draft.pk)


# ---- version page: editor (drafts) or read-only ---------------------------------------------------


def _version_or_404(pk: int) -> RateTableVersion:
    version = selectors.version_get(version_id=pk)
    if version is None:
        raise Http404
    return version


@capability_required(VIEW)
def version_detail(request, pk: int):
    version = _version_or_404(pk)
    can_edit = version.is_editable and user_can(request.user, EDIT)
    context = {
        "version": version,
        "rows": selectors.version_rate_rows(version_id=version.id),
        "can_edit": can_edit,
        "decisions": selectors.version_decisions(version_id=version.id),
        "available_meters": selectors.meters_not_in_version(version_id=version.id) if can_edit else [],
        "pricing_models": [(m, m.replace("_", " ")) for m in PRICING_MODELS],
        "tiered_models": TIERED_MODELS,
        "submit_form": submit_form_for(version),
        "diff": review.version_diff(version_id=version.id),
        "can_review": version.status == "pending_approval" and user_can(request.user, Cap.RATES_APPROVE),
        "can_simulate": user_can(request.user, EDIT) or user_can(request.user, Cap.RATES_APPROVE),
        "simulatable": ("draft", "pending_approval", "changes_requested"),
    }
    return render(request, "catalog/version_detail.html", context)


def _rate_for_edit(version_pk: int, rate_pk: int) -> Rate:
    rate = Rate.objects.filter(pk=rate_pk, version_id=version_pk).first()
    if rate is None:
        raise Http404
    return rate


def _row_response(
    request,
    rate_id: int,
    *,
    error: DomainError | None = None,
    field: str | None = None,
    status: int = 200,
    saved: str | None = None,
):
    row = selectors.rate_row(rate_id=rate_id)
    context = {
        "row": row,
        "can_edit": True,
        "pricing_models": [(m, m.replace("_", " ")) for m in PRICING_MODELS],
        "tiered_models": TIERED_MODELS,
        "error": error,
        "error_field": field,
        "saved": saved,
        "submitted": request.POST,
        "version": row.rate.version,
    }
    return render(request, "catalog/_rate_row.html", context, status=status)


@require_POST
@capability_required(EDIT)
def rate_cell_save(request, pk: int, rate_pk: int):
    """Inline edit of one cell: validated and saved on its own; the row comes back (with its error)."""
    rate = _rate_for_edit(pk, rate_pk)
    field = request.POST.get("field", "")
    value = request.POST.get(field, "")
    try:
        services.rate_update_field(rate_id=rate.id, field=field, value=value, actor=Actor.from_request(request))
    except DomainError as exc:
        # 200 so htmx swaps the row in with the error shown in place; the bad value stays in the input.
        return _row_response(request, rate.id, error=exc, field=field)
    response = _row_response(request, rate.id, saved=field)
    response["HX-Trigger"] = "rates-changed"
    return response


@require_POST
@capability_required(EDIT)
def rate_add(request, pk: int):
    version = _version_or_404(pk)
    try:
        services.rate_add(
            version_id=version.id,
            meter_id=int(request.POST.get("meter") or 0),
            actor=Actor.from_request(request),
            unit_price=request.POST.get("unit_price") or "0",
            price_per_units=request.POST.get("price_per_units") or "1",
            pricing_model=request.POST.get("pricing_model") or "per_unit",
        )
    except (DomainError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", "Choose a meter."))
    return redirect("catalog:version-detail", pk=version.pk)


@require_POST
@capability_required(EDIT)
def rate_remove(request, pk: int, rate_pk: int):
    rate = _rate_for_edit(pk, rate_pk)
    try:
        services.rate_remove(rate_id=rate.id, actor=Actor.from_request(request))
    except DomainError as exc:
        if is_partial(request):
            return _row_response(request, rate.id, error=exc, field="remove")
        messages.error(request, exc.message)
    if is_partial(request):
        return HttpResponse("")
    return redirect("catalog:version-detail", pk=pk)


@capability_required(VIEW)
def rate_tiers(request, pk: int, rate_pk: int):
    """The tier expander of a row: GET shows it, POST saves all tiers at once."""
    rate = _rate_for_edit(pk, rate_pk)
    error = None
    rows = None
    if request.method == "POST":
        if not user_can(request.user, EDIT):
            raise PermissionDenied
        rows = [
            {"up_to": u, "unit_price": p, "flat_fee": f}
            for u, p, f in zip(
                request.POST.getlist("up_to"),
                request.POST.getlist("tier_price"),
                request.POST.getlist("flat_fee"),
                strict=False,
            )
        ]
        try:
            tiers = services.parse_tiers(rows)
            services.rate_tiers_set(rate_id=rate.id, tiers=tiers, actor=Actor.from_request(request))
        except DomainError as exc:
            error = exc
        else:
            rows = None
    row = selectors.rate_row(rate_id=rate.id)
    if rows is None:
        rows = [{"up_to": t.up_to, "unit_price": t.unit_price, "flat_fee": t.flat_fee} for t in row.tiers]
    rows = rows + [{"up_to": "", "unit_price": "", "flat_fee": ""}] * 2
    can_edit = row.rate.version.is_editable and user_can(request.user, EDIT)
    saved = request.method == "POST" and not error
    response = render(
        request,
        "catalog/_tiers.html",
        {
            "row": row,
            "tier_rows": rows,
            "error": error,
            "can_edit": can_edit,
            "saved": saved,
            # the row's own line ("Tiers (n)", price, margin) comes back out of band so it is never stale
            "version": row.rate.version,
            "pricing_models": [(m, m.replace("_", " ")) for m in PRICING_MODELS],
            "tiered_models": TIERED_MODELS,
        },
    )
    if saved:
        response["HX-Trigger"] = "rates-changed"  # the diff card refreshes itself
    return response


@require_POST
@capability_required(EDIT)
def version_submit(request, pk: int):
    version = _version_or_404(pk)
    form = SubmitForm(request.POST)
    if form.is_valid():
        try:
            services.rate_table_version_submit(
                version_id=version.id, actor=Actor.from_request(request), **form.cleaned_data
            )
        except DomainError as exc:
            add_domain_error_to_form(form, exc)
        else:
            messages.success(request, f"v{version.number} submitted for approval. Finance has been asked to review it.")
            return redirect_after_post(request, reverse("catalog:version-detail", args=[version.pk]))
    context = {"version": version, "submit_form": form}
    if is_partial(request):
        return render(request, "catalog/_submit_form.html", context, status=200)
    messages.error(request, "Not submitted: " + " ".join(e for errs in form.errors.values() for e in errs))
    return redirect("catalog:version-detail", pk=version.pk)


def _simple_transition(request, pk: int, service, success: str):
    version = _version_or_404(pk)
    try:
        service(version_id=version.id, actor=Actor.from_request(request), comment=request.POST.get("comment", ""))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success.format(n=version.number))
    return redirect("catalog:version-detail", pk=version.pk)


@require_POST
@capability_required(EDIT)
def version_withdraw(request, pk: int):
    return _simple_transition(
        request, pk, services.rate_table_version_withdraw, "v{n} withdrawn: it is a draft again and can be edited."
    )


@require_POST
@capability_required(EDIT)
def version_discard(request, pk: int):
    return _simple_transition(request, pk, services.rate_table_version_discard, "v{n} discarded.")


@require_POST
@capability_required(EDIT)
def version_revert(request, pk: int):
    """Rollback: a new draft copying an earlier approved version, reviewed like any other."""
    source = _version_or_404(pk)
    try:
        draft = services.rate_table_version_revert(version_id=source.id, actor=Actor.from_request(request))
    except DomainError as exc:
        messages.error(request, exc.message)
        if exc.extra.get("version_id"):
            return redirect("catalog:version-detail", pk=exc.extra["version_id"])
        return redirect("catalog:rate-table-detail", code=source.rate_table.code)
    messages.success(
        request,
        f"Draft v{draft.number} copies v{source.number}. Run a simulation, then submit it: finance reviews a revert "
        "like any price change.",
    )
    return redirect("catalog:version-detail", pk=draft.pk)
