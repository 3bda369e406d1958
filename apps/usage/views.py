from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.contracts.selectors import customer_or_404
from apps.core.errors import DomainError
from apps.core.htmx import render_page_or_partial
from apps.core.permissions import capability_required, may_see_margin
from apps.core.roles import Cap

from . import selectors, statements
from .api.views import statement_response


def _meter(code: str):
    meter = selectors.meter_by_code(code)
    if meter is None:
        raise Http404("No such meter.")
    return meter


def _can_see_margin(request) -> bool:
    return may_see_margin(request)


class EventLookupForm(forms.Form):
    customer = forms.CharField(max_length=80, widget=forms.TextInput(attrs={"placeholder": "external id, e.g. acme"}))
    event_id = forms.CharField(
        max_length=200, label="Event id", widget=forms.TextInput(attrs={"placeholder": "id as sent, e.g. evt-1"})
    )


@capability_required(Cap.USAGE_VIEW)
def overview(request):
    form = EventLookupForm(request.GET or None)
    if request.GET and form.is_valid():
        event = selectors.event_find(
            customer_external_id=form.cleaned_data["customer"], event_id=form.cleaned_data["event_id"]
        )
        if event is not None:
            return redirect("usage:event-why", pk=event.pk)
        form.add_error(None, "No event with that id for that customer.")
    context = {"form": form, **selectors.rating_overview()}
    return render(request, "usage/overview.html", context, status=404 if form.errors and request.GET else 200)


@capability_required(Cap.USAGE_VIEW)
def event_why(request, pk: int):
    try:
        context = selectors.charge_explanation(event_pk=pk)
    except DomainError:
        raise Http404("No such usage event.") from None
    context["can_margin"] = _can_see_margin(request)
    return render(request, "usage/event_why.html", context)


@capability_required(Cap.USAGE_VIEW)
def bucket_why(request, external_id: str, day: str, meter: str):
    customer = customer_or_404(external_id=external_id)
    meter_spec = _meter(meter)
    try:
        bucket_day = date.fromisoformat(day)
    except ValueError:
        raise Http404("Not a day.") from None
    context = selectors.bucket_explanation(customer=customer, meter=meter_spec, day=bucket_day)
    context["can_margin"] = _can_see_margin(request)
    return render(request, "usage/bucket_why.html", context)


@capability_required(Cap.USAGE_VIEW)
def customer_panel(request, external_id: str):
    customer = customer_or_404(external_id=external_id)
    context = selectors.customer_usage_panel(customer=customer)
    context["can_margin"] = _can_see_margin(request)
    return render_page_or_partial(request, "usage/customer_usage.html", "usage/_customer_panel.html", context)


def _statement_or_redirect(request, external_id: str):
    """The statement for ?start=&end= (default: the current period), or a redirect with the error shown."""
    customer = customer_or_404(external_id=external_id)
    try:
        start, end = selectors.resolve_range(
            customer_id=customer.pk, start=request.GET.get("start"), end=request.GET.get("end")
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return None, redirect("usage:statement", external_id=external_id)
    return (customer, statements.statement(customer=customer, start=start, end=end), start, end), None


@capability_required(Cap.USAGE_VIEW)
def statement(request, external_id: str):
    found, response = _statement_or_redirect(request, external_id)
    if response is not None:
        return response
    customer, st, start, end = found
    csv_url = (
        reverse("usage:statement-csv", kwargs={"external_id": external_id})
        + f"?start={start.isoformat()}&end={end.isoformat()}"
    )
    return render(
        request,
        "usage/statement.html",
        {"customer": customer, "statement": st, "csv_url": csv_url, "can_margin": _can_see_margin(request)},
    )


@capability_required(Cap.USAGE_VIEW)
def statement_csv(request, external_id: str):
    found, response = _statement_or_redirect(request, external_id)
    if response is not None:
        return response
    return statement_response(found[1], include_cost=_can_see_margin(request))


@capability_required(Cap.USAGE_VIEW)
def batch_detail(request, pk: int):
    try:
        batch = selectors.batch_get(batch_id=pk)
    except DomainError:
        raise Http404("No such batch.") from None
    return render(request, "usage/batch_detail.html", {"batch": batch, "can_margin": _can_see_margin(request)})
