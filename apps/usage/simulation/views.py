"""The simulation panel (an htmx fragment the catalog's version and review pages load) and its CSV."""

from __future__ import annotations

import io

from django import forms
from django.http import Http404, HttpResponse
from django.shortcuts import render

from apps.catalog.selectors import version_get
from apps.core.actors import Actor
from apps.core.csv_export import csv_writer
from apps.core.errors import DomainError, add_domain_error_to_form
from apps.core.permissions import capability_required, may_see_margin

from .charts import bill_change_figure, figure_json
from .models import Simulation
from .selectors import simulation_csv_rows, simulation_get, simulation_latest, simulation_report
from .services import RUN_CAPS, SIMULATABLE, simulation_default_range, simulation_request


class SimulationForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="First day")
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Last day (inclusive)")

    def clean(self):
        data = super().clean()
        if bool(data.get("start")) != bool(data.get("end")):
            self.add_error("end", "Give both days, or neither for the default range.")
        return data


def _version_or_404(pk: int):
    version = version_get(version_id=pk)
    if version is None:
        raise Http404("No such rate table version.")
    return version


@capability_required(*RUN_CAPS)
def simulation_panel(request, pk: int):
    """GET: the latest simulation of the version (polling itself while it runs) and the form to run one.
    POST: run one (a Celery task; eager under `make run`, so the answer already has the result)."""
    version = _version_or_404(pk)
    first, last = simulation_default_range(rate_table_id=version.rate_table_id)
    form = SimulationForm(request.POST if request.method == "POST" else None, initial={"start": first, "end": last})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            simulation_request(version_id=version.id, actor=Actor.from_request(request), start=d["start"], end=d["end"])
        except DomainError as exc:
            add_domain_error_to_form(form, exc)
        else:
            form = SimulationForm(initial={"start": d["start"] or first, "end": d["end"] or last})
    simulation = simulation_latest(version_id=version.id)
    report = simulation_report(simulation) if simulation and simulation.state == Simulation.State.DONE else None
    figure = bill_change_figure(report) if report else None
    context = {
        "version": version,
        "form": form,
        "simulation": simulation,
        "report": report,
        "chart_json": figure_json(figure) if figure else "",
        "can_run": version.status in SIMULATABLE,
        "with_margin": may_see_margin(request),
        "running": simulation is not None and simulation.state in (Simulation.State.QUEUED, Simulation.State.RUNNING),
    }
    return render(request, "usage/_simulation_panel.html", context)


@capability_required(*RUN_CAPS)
def simulation_csv(request, pk: int):
    simulation = simulation_get(simulation_id=pk)
    if simulation is None or simulation.state != Simulation.State.DONE:
        raise Http404("No such finished simulation.")
    rows = simulation_csv_rows(simulation_report(simulation), with_margin=may_see_margin(request))
    buffer = io.StringIO()
    csv_writer(buffer).writerows(rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"simulation-{simulation.pk}-{simulation.version.rate_table.code}-v{simulation.version.number}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
