"""Finance pages for closing a month: the period list, a period's statements (with Close, and reopening with a
second approver), a printable statement per customer, and the CSV/JSON export of a closed period."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.actors import Actor
from apps.core.errors import DomainError
from apps.core.permissions import capability_required, user_can
from apps.core.roles import Cap

from . import exports, selectors, services
from .statements import ADJUSTMENT, BASE_FEE, CREDIT_PURCHASE, USAGE, month_label, parse_month


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), label="Reason")


class CommentForm(forms.Form):
    comment = forms.CharField(max_length=2000, required=False, label="Comment")


def _month(value: str):
    try:
        return parse_month(value)
    except DomainError:
        raise Http404("A period is a month, YYYY-MM.") from None


def _redirect_with(request, error: DomainError | None, ok: str, month):
    if error is None:
        messages.success(request, ok)
        return redirect("usage:period-detail", month=month_label(month))
    if error.http_status == 403:
        raise PermissionDenied(error.message)
    if error.http_status == 404:
        raise Http404(error.message)
    messages.error(request, error.message)
    return redirect("usage:period-detail", month=month_label(month))


@capability_required(Cap.USAGE_VIEW)
def period_list(request):
    return render(
        request,
        "usage/closing/periods.html",
        {"rows": selectors.period_rows(), "can_close": user_can(request.user, Cap.PERIODS_CLOSE)},
    )


@capability_required(Cap.USAGE_VIEW)
def period_detail(request, month: str):
    m = _month(month)
    row = selectors.period_row(month=m)
    statements = selectors.period_statements(month=m)
    totals = [
        {
            "st": st,
            "base_fee": st.total(BASE_FEE),
            "usage": st.total(USAGE),
            "purchases": st.total(CREDIT_PURCHASE),
            "adjustments": st.total(ADJUSTMENT),
            "has_adjustments": bool(st.lines_of(ADJUSTMENT)),
        }
        for st in statements
    ]
    by_currency: dict[str, dict] = {}
    for t in totals:
        sums = by_currency.setdefault(
            t["st"].currency, {"currency": t["st"].currency, "customers": 0, "amount_due": 0, "base_fee": 0}
        )
        sums["customers"] += 1
        for key in ("base_fee", "usage", "purchases", "adjustments"):
            sums[key] = sums.get(key, 0) + t[key]
        sums["amount_due"] += t["st"].amount_due
    pending = row.pending_reopen
    return render(
        request,
        "usage/closing/period_detail.html",
        {
            "row": row,
            "statements": totals,
            "currency_totals": sorted(by_currency.values(), key=lambda c: c["currency"]),
            "actions": selectors.period_actions(month=m),
            "can_close": user_can(request.user, Cap.PERIODS_CLOSE),
            "reason_form": ReasonForm(),
            "comment_form": CommentForm(),
            "own_request": pending is not None and pending.requested_by_id == request.user.pk,
            "adjustments_land": selectors.adjustment_month(selectors.closes_in_force()) == m,
            "intact": selectors.frozen_intact(period=row.close) if row.close else None,
        },
    )


@capability_required(Cap.USAGE_VIEW)
def period_statement(request, month: str, external_id: str):
    m = _month(month)
    try:
        st, period = selectors.customer_statement(month=m, external_id=external_id)
    except DomainError:
        raise Http404("No such customer.") from None
    return render(request, "usage/closing/statement_print.html", {"st": st, "period": period, "month": m})


@capability_required(Cap.USAGE_VIEW)
def period_export(request, month: str, fmt: str):
    m = _month(month)
    if fmt not in ("csv", "json"):
        raise Http404("Exports are .csv or .json.")
    try:
        period = exports.closed_period_or_conflict(m)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("usage:period-detail", month=month_label(m))
    return export_response(period, fmt)


def export_response(period, fmt: str) -> HttpResponse:
    if fmt == "json":
        response = HttpResponse(exports.export_json(period), content_type="application/json")
    else:
        response = HttpResponse(exports.export_csv(period), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{exports.export_filename(period, fmt)}"'
    return response


@require_POST
@capability_required(Cap.PERIODS_CLOSE)
def period_close(request, month: str):
    m = _month(month)
    error = None
    try:
        period = services.period_close(month=m, actor=Actor.from_request(request))
    except DomainError as exc:
        error = exc
    ok = "" if error else f"{month_label(m)} is closed: {period.statements_count} statements frozen."
    return _redirect_with(request, error, ok, m)


@require_POST
@capability_required(Cap.PERIODS_CLOSE)
def period_reopen_request(request, month: str):
    m = _month(month)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    error = None
    try:
        services.period_reopen_request(month=m, reason=reason, actor=Actor.from_request(request))
    except DomainError as exc:
        error = exc
    return _redirect_with(request, error, "Reopening requested: a second finance approver must approve it.", m)


@require_POST
@capability_required(Cap.PERIODS_CLOSE)
def period_reopen_decide(request, pk: int, decision: str):
    reopen = selectors.reopen_request_get(request_id=pk)
    if reopen is None or decision not in ("approve", "decline"):
        raise Http404("No such reopen request.")
    form = CommentForm(request.POST)
    comment = form.cleaned_data.get("comment", "") if form.is_valid() else ""
    actor = Actor.from_request(request)
    error = None
    try:
        if decision == "approve":
            services.period_reopen_approve(request_id=pk, actor=actor, comment=comment)
        else:
            services.period_reopen_decline(request_id=pk, actor=actor, comment=comment)
    except DomainError as exc:
        error = exc
    if error is not None and error.code == "four_eyes":
        messages.error(request, error.message)
        return redirect("usage:period-detail", month=month_label(reopen.period.month))
    ok = "The period is open again." if decision == "approve" else "Reopening declined: the period stays closed."
    return _redirect_with(request, error, ok, reopen.period.month)
