"""The deferred-revenue page (finance): the month's roll-forward of prepaid credits per customer and in total, the
monthly waterfall, revenue recognised by meter, and their CSVs. Thin: parse, call selectors, build the chart."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from apps.core.csv_export import csv_writer
from apps.core.money import decimal_str
from apps.core.permissions import capability_required
from apps.core.roles import Cap
from apps.wallets.selectors import ROLLFORWARD_COLUMNS as COLUMNS
from apps.wallets.selectors import RollForwardRow

from .charts.revenue import waterfall_chart
from .deferred_revenue import deferred_revenue_page, period_from

# Deferred revenue is a finance view: the finance approver's capability over credits (no other role holds it).
REVENUE_CAPS = (Cap.CREDITS_APPROVE,)
CSV_TABLES = ("rollforward", "waterfall", "by-meter")
CREDIT_COLUMNS = ("paid_granted", "paid_used", "paid_expired", "free_granted", "free_used", "free_expired")


def _csv(rows: list[list], filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    writer = csv_writer(response)
    writer.writerows(rows)
    return response


def _rollforward_rows(rows: list[RollForwardRow]) -> list[list]:
    header = ["customer", "name", "currency", *COLUMNS, *(f"credits_{c}" for c in CREDIT_COLUMNS)]
    return [header] + [
        [
            r.external_id or "total",
            r.name,
            r.currency,
            *(f"{getattr(r.cents, c):.2f}" for c in COLUMNS),
            *(decimal_str(getattr(r.credits, c)) for c in CREDIT_COLUMNS),
        ]
        for r in rows
    ]


@capability_required(*REVENUE_CAPS)
def deferred_revenue(request):
    period, error = period_from(request.GET.get("period"))
    page = deferred_revenue_page(period=period)
    chart = waterfall_chart(page.months)
    query = f"period={period.label}"
    chart.csv_url = f"{reverse('dashboards:revenue-csv', args=['waterfall'])}?{query}"
    context = {
        "page": page,
        "report": page.report,
        "chart": chart,
        "period": period,
        "period_error": error,
        "query": query,
        "previous": page.period.previous() if page.period > page.earliest else None,
        "next": page.period.next() if page.period < page.latest else None,
    }
    return render(request, "insights/revenue.html", context, status=400 if error else 200)


@capability_required(*REVENUE_CAPS)
def deferred_revenue_csv(request, table: str):
    if table not in CSV_TABLES:
        raise Http404("No such table.")
    period, error = period_from(request.GET.get("period"))
    if error:
        response = HttpResponse(error, status=400, content_type="text/plain; charset=utf-8")
        response["X-Error-Code"] = "bad_period"
        return response
    page = deferred_revenue_page(period=period)
    if table == "rollforward":
        rows = _rollforward_rows([*page.report.rows, *page.report.totals])
    elif table == "waterfall":
        rows = waterfall_chart(page.months).table
        rows = [rows[0]] + [[*r[:2], *(f"{v:.2f}" for v in r[2:])] for r in rows[1:]]
    else:
        currency = page.report.total.currency
        rows = [["meter", "currency", "recognized", "share_pct"]] + [
            [m.label, currency, f"{m.amount:.2f}", "" if m.share is None else f"{m.share:.1f}"] for m in page.by_meter
        ]
    return _csv(rows, f"deferred-revenue-{table}-{period.label}")
