"""Dashboard pages: the organisation overview, a customer's consumption, the margin page, their landing and
customer-page panels (with account health), and the CSV behind every chart. Thin: parse, call selectors, build charts, render.

One view serves the full page or, for htmx requests, the part that changes (range, sort) in place.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.alerts.selectors import customers_needing_attention, live_counts
from apps.contracts.selectors import (
    contract_in_force,
    customer_or_404,
    customers_by_id,
    customers_of_manager,
)
from apps.core.csv_export import csv_writer
from apps.core.htmx import is_partial, render_page_or_partial
from apps.core.money import ZERO, normalize
from apps.core.permissions import capability_required, may_see_margin, user_can
from apps.core.roles import Cap
from apps.wallets.selectors import wallet_runways

from . import charts
from . import selectors as ds

PANEL_RANGE_DAYS = 30
OVERVIEW_SUMS = ("events", "revenue", "cost")  # all the overview charts need per day and meter


def _csv_response(chart: charts.Chart, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    writer = csv_writer(response)
    for row in chart.table:
        writer.writerow([_cell(v) for v in row])
    return response


def _cell(value):
    if isinstance(value, Decimal):
        return format(normalize(value), "f")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _range_context(period: ds.DateRange, error: str) -> dict:
    return {"period": period, "range_error": error, "range_choices": ds.RANGE_CHOICES, "range_query": period.as_query()}


def _panel(chart: charts.Chart) -> charts.Chart:
    """Landing-page panels have their own heading: drop the figure's title and its space."""
    if chart.figure is not None:
        layout = chart.figure["layout"]
        layout["title"] = {"text": ""}
        layout["margin"] = {**layout.get("margin", {}), "t": 56}  # the legend sits below the CSV link
    return chart


# --- overview -------------------------------------------------------------------------------------------------


def _with_share(items: list[ds.CustomerTotal], totals: list[ds.CustomerTotal]) -> list[dict]:
    whole = sum((t.current for t in totals), ZERO)
    return [{"t": t, "share": t.current / whole * 100 if whole else None} for t in items]


def _overview_charts(period: ds.DateRange, *, by: str, measure: str) -> dict:
    meters = ds.meter_infos()
    rows = ds.org_daily_by_meter(period=period, fields=OVERVIEW_SUMS)
    summary = ds.margin_summary(period=period, meters=meters)
    totals = ds.customer_totals(period=period, measure=measure, sums=summary.customers)
    margins = summary.meters
    money = ds.money_by_day(rows, period)
    return {
        "consumption": charts.consumption_chart(rows, meters, period, by=by, measure=measure),
        "money": charts.money_chart(money, period),
        "margin": charts.margin_by_meter_chart(margins, period),
        "margins": margins,
        "below_cost": [m for m in margins if m.below_cost],
        "unpriced": [m for m in margins if m.unpriced],
        "top": _with_share(ds.top_customers(totals), totals),
        "growers": ds.top_growers(totals),
        "totals": {
            "revenue": sum((d.revenue for d in money), ZERO),
            "cost": sum((d.cost for d in money), ZERO),
            "events": sum((r.events for r in rows), 0),
            "customers": sum(1 for t in totals if t.events),
        },
    }


@capability_required(Cap.MARGIN_VIEW)
def overview(request):
    period, error = ds.parse_range(request.GET)
    by = "meter" if request.GET.get("by") == "meter" else "product"
    measure = ds.parse_measure(request.GET.get("measure"))
    context = {
        **_range_context(period, error),
        **_overview_charts(period, by=by, measure=measure),
        "by": by,
        "measure": measure,
        "measures": ds.MEASURES,
        "by_choices": [("product", "Product"), ("meter", "Meter")],
        "keep_params": [("by", by), ("measure", measure)],
    }
    revenue, cost = context["totals"]["revenue"], context["totals"]["cost"]
    context["totals"]["margin"] = revenue - cost
    context["totals"]["margin_pct"] = ds.margin_pct(revenue, cost)
    query = f"{period.as_query()}&by={by}&measure={measure}"
    for key in ("consumption", "money", "margin"):
        context[key].csv_url = f"{reverse('dashboards:overview-csv', args=[key])}?{query}"
    context["query"] = query
    return render_page_or_partial(request, "insights/overview.html", "insights/_overview_body.html", context)


@capability_required(Cap.MARGIN_VIEW)
def overview_csv(request, chart: str):
    period, _error = ds.parse_range(request.GET)
    by = "meter" if request.GET.get("by") == "meter" else "product"
    measure = ds.parse_measure(request.GET.get("measure"))
    if chart in ("top-customers", "top-growth"):
        totals = ds.customer_totals(period=period, measure=measure)
        items = ds.top_customers(totals, limit=100) if chart == "top-customers" else ds.top_growers(totals, limit=100)
        table = charts.Chart(chart, chart)
        table.table = [
            [
                "customer",
                "name",
                "events",
                "revenue",
                "cost",
                f"{measure}_previous",
                f"{measure}_current",
                "growth",
                "growth_pct",
            ]
        ] + [
            [
                t.external_id,
                t.name,
                t.events,
                t.revenue,
                t.cost,
                t.previous,
                t.current,
                t.growth,
                t.growth_pct.quantize(Decimal("0.01")) if t.growth_pct is not None else "",
            ]
            for t in items
        ]
        return _csv_response(table, f"{chart}-{period.start}-{period.end}")
    built = _overview_charts(period, by=by, measure=measure)
    if chart not in ("consumption", "money", "margin"):
        raise Http404("No such chart.")
    return _csv_response(built[chart], f"{chart}-{period.start}-{period.end}")


def _panel_period() -> ds.DateRange:
    period, _ = ds.parse_range({"range": str(PANEL_RANGE_DAYS)})
    return period


@capability_required(Cap.MARGIN_VIEW)
def panel_consumption(request):
    period = _panel_period()
    meters = ds.meter_infos()
    chart = charts.consumption_chart(
        ds.org_daily_by_meter(period=period, fields=OVERVIEW_SUMS),
        meters,
        period,
        by="product",
        measure=ds.DEFAULT_MEASURE,
    )
    chart.csv_url = f"{reverse('dashboards:overview-csv', args=['consumption'])}?{period.as_query()}"
    return render(
        request,
        "insights/_panel_chart.html",
        {"chart": _panel(chart), "title": chart.title, "more": reverse("dashboards:overview")},
    )


@capability_required(Cap.MARGIN_VIEW)
def panel_money(request):
    period = _panel_period()
    chart = charts.money_chart(
        ds.money_by_day(ds.org_daily_by_meter(period=period, fields=OVERVIEW_SUMS), period), period
    )
    chart.csv_url = f"{reverse('dashboards:overview-csv', args=['money'])}?{period.as_query()}"
    return render(
        request,
        "insights/_panel_chart.html",
        {
            "chart": _panel(chart),
            "title": f"{chart.title}, last {PANEL_RANGE_DAYS} days",
            "more": reverse("dashboards:overview"),
        },
    )


@capability_required(Cap.MARGIN_VIEW)
def panel_margin(request):
    period = _panel_period()
    meters = ds.meter_infos()
    margins = ds.margin_summary(period=period, meters=meters).meters
    chart = charts.margin_by_meter_chart(margins, period)
    chart.csv_url = f"{reverse('dashboards:overview-csv', args=['margin'])}?{period.as_query()}"
    return render(
        request,
        "insights/_panel_chart.html",
        {
            "chart": _panel(chart),
            "title": f"Margin by meter, last {PANEL_RANGE_DAYS} days",
            "more": reverse("dashboards:margin"),
            "below_cost": [m for m in margins if m.below_cost],
        },
    )


@capability_required(Cap.MARGIN_VIEW)
def panel_top_customers(request):
    period = _panel_period()
    totals = ds.customer_totals(period=period, measure="revenue")
    return render(
        request,
        "insights/_panel_top_customers.html",
        {
            "top": ds.top_customers(totals, limit=6),
            "growers": ds.top_growers(totals, limit=6),
            "period": period,
            "measure": "revenue",
        },
    )


# --- one customer ---------------------------------------------------------------------------------------------


def _customer_charts(customer, period: ds.DateRange, *, show_cost: bool) -> dict:
    now = timezone.now()
    meters = ds.meter_infos()
    terms = contract_in_force(customer_id=customer.pk, at=now)
    rows = ds.customer_daily_by_meter(customer_id=customer.pk, period=period)
    markers = [
        m for m in ds.timeline_markers(customer_id=customer.pk, period=period) if show_cost or not m.carries_margin
    ]
    included = ds.included_usage(customer_id=customer.pk, now=now, meters=meters, terms=terms, known=(period, rows))
    period_label = ""
    if included.period_start:
        last = (included.period_end - timedelta(days=1)) if included.period_end else None
        period_label = (
            f"{included.period_start:%b %-d} – {last:%b %-d, %Y}"
            if last
            else f"from {included.period_start:%b %-d, %Y}"
        )
    burn = ds.balance_history(customer_id=customer.pk, period=period, now=now)
    attribution = ds.attribution_top(customer_id=customer.pk, period=period)
    pricing_unit = terms.pricing_unit if terms else ""
    billing_model = terms.billing_model if terms else ""
    result = {
        "terms": terms,
        "included": included,
        "burn": burn,
        "markers": markers,
        "included_chart": charts.included_chart(
            included.rows, period_label=period_label, has_contract=included.has_contract
        ),
        "usage_chart": charts.usage_per_meter_chart(rows, meters, period, markers),
        "balance_chart": charts.burndown_chart(burn, period, markers),
        "credits_chart": charts.credits_chart(
            ds.credits_paid_free(customer_id=customer.pk, period=period), period, billing_model=billing_model
        ),
        "attribution_charts": [
            charts.attribution_chart(k, attribution.get(k, []), period, pricing_unit=pricing_unit)
            for k in ("user", "agent", "team")
        ],
        "alerts_chart": charts.alerts_timeline_chart(markers, period),
        "totals": {
            "events": sum(r.events for r in rows),
            "revenue": sum((r.revenue for r in rows), ZERO),
            "cost": sum((r.cost for r in rows), ZERO) if show_cost else None,
            "credits": sum((r.credits for r in rows), ZERO),
        },
    }
    if not show_cost:
        for chart in [result["usage_chart"], *result["attribution_charts"]]:
            _drop_cost_columns(chart)
    return result


def _drop_cost_columns(chart: charts.Chart) -> None:
    if chart.table and "cost" in chart.table[0]:
        i = chart.table[0].index("cost")
        chart.table = [row[:i] + row[i + 1 :] for row in chart.table]


CUSTOMER_CHARTS = (
    "included",
    "usage",
    "balance",
    "credits",
    "attribution-user",
    "attribution-agent",
    "attribution-team",
    "alerts",
)


def _all_customer_charts(built: dict) -> list[charts.Chart]:
    return [
        built["included_chart"],
        built["usage_chart"],
        built["balance_chart"],
        built["credits_chart"],
        *built["attribution_charts"],
        built["alerts_chart"],
    ]


@capability_required(Cap.USAGE_VIEW)
def customer_dashboard(request, external_id: str):
    customer = customer_or_404(external_id=external_id)
    period, error = ds.parse_range(request.GET)
    show_cost = may_see_margin(request)
    built = _customer_charts(customer, period, show_cost=show_cost)
    for chart in _all_customer_charts(built):
        chart.csv_url = (
            f"{reverse('dashboards:customer-csv', args=[customer.external_id, chart.key])}?{period.as_query()}"
        )
    context = {
        **_range_context(period, error),
        **built,
        "customer": customer,
        "show_cost": show_cost,
        "can_alerts": user_can(request.user, Cap.ALERTS_VIEW),
        "open_alerts": sum(1 for m in built["markers"] if m.state == "open"),
    }
    return render_page_or_partial(request, "insights/customer.html", "insights/_customer_body.html", context)


@capability_required(Cap.USAGE_VIEW)
def customer_csv(request, external_id: str, chart: str):
    customer = customer_or_404(external_id=external_id)
    if chart not in CUSTOMER_CHARTS:
        raise Http404("No such chart.")
    period, _error = ds.parse_range(request.GET)
    built = _customer_charts(customer, period, show_cost=may_see_margin(request))
    found = next(c for c in _all_customer_charts(built) if c.key == chart)
    return _csv_response(found, f"{customer.external_id}-{chart}-{period.start}-{period.end}")


@capability_required(Cap.USAGE_VIEW)
def customer_panel(request, external_id: str):
    """The customer page's panel: included-usage progress against the alert thresholds and the runway, with a
    link to the consumption page."""
    customer = customer_or_404(external_id=external_id)
    now = timezone.now()
    included = ds.included_usage(customer_id=customer.pk, now=now)
    runway = wallet_runways(customer_ids=[customer.pk], now=now).get(customer.pk)
    return render(
        request, "insights/_customer_panel.html", {"customer": customer, "included": included, "runway": runway}
    )


# --- margin ---------------------------------------------------------------------------------------------------


def why_charge_url(cell: ds.MarginCell, period: ds.DateRange) -> str:
    """The usage app's "why this charge" page for the customer x meter on its latest day with usage in the range."""
    try:
        return reverse(
            "usage:bucket-why",
            kwargs={"external_id": cell.external_id, "meter": cell.meter.code, "day": cell.last_day.isoformat()},
        )
    except NoReverseMatch:
        return f"{reverse('dashboards:customer', args=[cell.external_id])}?{period.as_query()}"


SORT_COLUMNS = [
    ("customer", "Customer", False),
    ("meter", "Meter", False),
    ("billed", "Billed", True),
    ("cost", "Cost", True),
    ("margin_pct", "Margin", True),
]


@capability_required(Cap.MARGIN_VIEW)
def margin(request):
    period, error = ds.parse_range(request.GET)
    sort = request.GET.get("sort") or ds.DEFAULT_MARGIN_SORT
    if sort not in ds.MARGIN_SORTS:
        sort = ds.DEFAULT_MARGIN_SORT
    only = request.GET.get("only") or ""
    meters = ds.meter_infos()
    cells = ds.margin_cells(period=period, meters=meters)
    heatmap = charts.margin_heatmap(cells, period, link=lambda c: why_charge_url(c, period))
    heatmap.csv_url = f"{reverse('dashboards:margin-csv')}?{period.as_query()}"
    rows = ds.sort_cells([c for c in cells if c.billed or c.charged_cost], sort)
    if only == "below":
        rows = [c for c in rows if c.below_cost]
    meter_margins = ds.margin_by_meter(cells, meters)
    context = {
        **_range_context(period, error),
        "heatmap": heatmap,
        "rows": [{"cell": c, "why": why_charge_url(c, period)} for c in rows],
        "sort": sort,
        "only": only,
        "below_cost_meters": [m for m in meter_margins if m.below_cost],
        "below_cost_cells": sum(1 for c in cells if c.below_cost),
        "sort_columns": SORT_COLUMNS,
    }
    template = "insights/_margin_table.html" if request.GET.get("part") == "table" and is_partial(request) else None
    if template:
        return render(request, template, context)
    return render_page_or_partial(request, "insights/margin.html", "insights/_margin_body.html", context)


@capability_required(Cap.MARGIN_VIEW)
def margin_csv(request):
    period, _error = ds.parse_range(request.GET)
    cells = ds.margin_cells(period=period, meters=ds.meter_infos())
    chart = charts.margin_heatmap(cells, period)
    return _csv_response(chart, f"margin-{period.start}-{period.end}")


# --- account health (a landing panel for account managers and alert managers) ----------------------------------

HEALTH_ROWS = 15


@capability_required(Cap.CONTRACTS_EDIT, Cap.ALERTS_MANAGE)
def panel_health(request):
    mine = request.user.accounts.exists()
    if mine:
        customers, total = customers_of_manager(user_id=request.user.pk)
    else:
        ids = customers_needing_attention(limit=10)
        found = customers_by_id(customer_ids=ids)
        customers = [found[pk] for pk in ids if pk in found]
        total = len(customers)
    health = ds.accounts_health(customers=customers)
    counts = live_counts(customer_ids=[c.pk for c in customers])
    rows = [{"h": h, "alerts": counts.get(h.customer_id, 0)} for h in health]
    # the accounts at risk first: live alerts, then the shortest runway, then the fullest allowance
    rows.sort(
        key=lambda r: (
            -r["alerts"],
            r["h"].runway_days if r["h"].runway_days is not None else 10**6,
            -(r["h"].top_allowance.pct if r["h"].top_allowance else 0),
            r["h"].name,
        )
    )
    return render(request, "insights/_panel_health.html", {"rows": rows[:HEALTH_ROWS], "mine": mine, "total": total})
