"""Charts of the overview and margin pages: consumption, money, margin by meter, the margin heatmap."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ..selectors import MEASURES, DateRange, MarginCell, MeterDay, MeterInfo, MeterMargin, MoneyDay
from .base import (
    COST,
    INK,
    NEGATIVE,
    POSITIVE,
    REVENUE,
    Chart,
    _date_axis,
    _iso,
    _layout,
    _tickformat,
    f,
    meter_colour,
    money_format,
)

MEASURE_AXIS = {"events": "Events per day", "cost": "Cost per day", "revenue": "Revenue per day"}


def consumption_chart(
    rows: list[MeterDay],
    meters: dict[int, MeterInfo],
    period: DateRange,
    *,
    by: str,
    measure: str,
    currency: str = "USD",
) -> Chart:
    by_label = "product" if by == "product" else "meter"
    title = f"Consumption by {by_label} — {MEASURES[measure].lower()} per day"
    chart = Chart("consumption", title, height=360)
    groups: dict[str, dict[date, Decimal]] = {}
    colours: dict[str, str] = {}
    order: dict[str, int] = {}
    for r in rows:
        meter = meters.get(r.meter_id)
        if meter is None:
            continue
        key = meter.product_name if by == "product" else meter.code
        value = Decimal(r.events) if measure == "events" else getattr(r, measure)
        groups.setdefault(key, {})
        groups[key][r.day] = groups[key].get(r.day, Decimal(0)) + value
        if key not in colours or meter.order < order[key]:
            colours[key], order[key] = meter_colour(meter), meter.order
    chart.table = [["day", by_label, measure]] + [
        [_iso(d), k, v] for k in sorted(groups) for d, v in sorted(groups[k].items())
    ]
    if not any(v for g in groups.values() for v in g.values()):
        chart.empty = f"No rated usage {period.label}. Usage appears here once events are ingested and rated."
        return chart
    days = period.dates()
    prefix, hover = money_format(currency)
    value_format = ",.0f" if measure == "events" else hover
    data = []
    for key in sorted(groups, key=lambda k: order[k]):
        data.append(
            {
                "type": "bar",
                "name": key,
                "x": [_iso(d) for d in days],
                "y": [f(groups[key].get(d, 0)) for d in days],
                "marker": {"color": colours[key]},
                "hovertemplate": f"%{{y:{value_format}}}<extra>{key}</extra>",
            }
        )
    y_title = MEASURE_AXIS[measure] + ("" if measure == "events" else f" ({currency})")
    chart.figure = {
        "data": data,
        "layout": _layout(
            title,
            y_title=y_title,
            height=chart.height,
            barmode="stack",
            hovermode="x unified",
            xaxis=_date_axis(period),
            # one entry per line on the right: meter codes are long and there can be a dozen of them
            legend={
                "orientation": "v",
                "x": 1.01,
                "xanchor": "left",
                "y": 1,
                "yanchor": "top",
                "traceorder": "reversed",
            },
            margin={"r": 190 if by == "meter" else 130},
            yaxis={"tickprefix": "" if measure == "events" else prefix, "tickformat": _tickformat(_stack_tops(groups))},
        ),
    }
    return chart


def _stack_tops(groups: dict[str, dict[date, Decimal]]) -> list[float]:
    tops: dict[date, Decimal] = {}
    for series in groups.values():
        for d, v in series.items():
            tops[d] = tops.get(d, Decimal(0)) + v
    return [f(v) for v in tops.values()]


def money_chart(days: list[MoneyDay], period: DateRange, *, currency: str = "USD") -> Chart:
    title = "Revenue, cost and gross margin per day"
    chart = Chart("money", title, height=360)
    chart.table = [["day", "revenue", "cost", "gross_margin", "margin_pct"]] + [
        [
            _iso(d.day),
            d.revenue,
            d.cost,
            d.margin,
            d.margin_pct.quantize(Decimal("0.01")) if d.margin_pct is not None else "",
        ]
        for d in days
    ]
    if not any(d.revenue or d.cost for d in days):
        chart.empty = f"No revenue or cost {period.label}: nothing was rated in this range."
        return chart
    prefix, hover = money_format(currency)
    x = [_iso(d.day) for d in days]
    pct = [f"{d.margin_pct:.1f} %" if d.margin_pct is not None else "no revenue" for d in days]
    data = [
        {
            "type": "bar",
            "name": "Gross margin",
            "x": x,
            "y": [f(d.margin) for d in days],
            "marker": {"color": [POSITIVE if d.margin >= 0 else NEGATIVE for d in days], "opacity": 0.85},
            "customdata": pct,
            "hovertemplate": f"%{{y:{hover}}} (%{{customdata}})<extra>Gross margin</extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "Revenue",
            "x": x,
            "y": [f(d.revenue) for d in days],
            "line": {"color": REVENUE, "width": 2.5},
            "hovertemplate": f"%{{y:{hover}}}<extra>Revenue</extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "Cost",
            "x": x,
            "y": [f(d.cost) for d in days],
            "line": {"color": COST, "width": 2.5},
            "hovertemplate": f"%{{y:{hover}}}<extra>Cost</extra>",
        },
    ]
    chart.figure = {
        "data": data,
        "layout": _layout(
            title,
            y_title=f"Amount per day ({currency})",
            height=chart.height,
            hovermode="x unified",
            xaxis=_date_axis(period),
            yaxis={
                "tickprefix": prefix,
                "rangemode": "normal",
                "tickformat": _tickformat([f(d.revenue) for d in days] + [f(d.cost) for d in days]),
            },
        ),
    }
    return chart


def margin_by_meter_chart(items: list[MeterMargin], period: DateRange) -> Chart:
    title = "Margin % by meter (price vs cost of charged usage)"
    priced = [m for m in items if m.margin_pct is not None]
    chart = Chart("margin-by-meter", title, height=max(220, 70 + 30 * len(priced)))
    chart.table = [
        [
            "meter",
            "product",
            "events",
            "quantity",
            "billed",
            "revenue",
            "cost",
            "included_cost",
            "charged_cost",
            "margin",
            "margin_pct",
            "below_cost",
        ]
    ] + [
        [
            m.meter.code,
            m.meter.product_name,
            m.events,
            m.quantity,
            m.billed,
            m.revenue,
            m.cost,
            m.included_cost,
            m.charged_cost,
            m.margin,
            m.margin_pct.quantize(Decimal("0.01")) if m.margin_pct is not None else "",
            m.below_cost,
        ]
        for m in items
    ]
    if not priced:
        chart.empty = (
            f"No charged usage {period.label}, so there is no margin to show."
            if not items
            else "Usage in this range was all included in allowances or free units, so margin % is undefined."
        )
        return chart
    rows = list(reversed(priced))  # lowest margin at the top
    labels = [m.meter.code for m in rows]
    values = [f(m.margin_pct) for m in rows]
    low, high = min(values + [0.0]), max(values + [0.0])
    span = max(high - low, 10.0)
    # values beside the bars: right of a positive bar's end, right of zero for a negative one (clear of the names)
    annotations = [
        {
            "x": max(v, 0.0),
            "y": label,
            "xref": "x",
            "yref": "y",
            "xanchor": "left",
            "xshift": 4,
            "showarrow": False,
            "text": f"{m.margin_pct:,.1f} %",
            "font": {"size": 11, "color": NEGATIVE if m.below_cost else INK},
        }
        for v, label, m in zip(values, labels, rows, strict=True)
    ]
    chart.figure = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": labels,
                "x": values,
                "marker": {"color": [NEGATIVE if m.below_cost else POSITIVE for m in rows]},
                "customdata": [[f(m.billed), f(m.charged_cost)] for m in rows],
                "hovertemplate": "%{y}<br>margin %{x:.1f} %<br>billed $%{customdata[0]:,.2f}<br>cost of charged usage "
                "$%{customdata[1]:,.2f}<extra></extra>",
            }
        ],
        "layout": _layout(
            title,
            x_title="Gross margin (% of revenue)",
            height=chart.height,
            showlegend=False,
            margin={"l": 190, "r": 40},
            bargap=0.3,
            annotations=annotations,
            xaxis={
                "ticksuffix": " %",
                "zeroline": True,
                "zerolinecolor": INK,
                "zerolinewidth": 1.5,
                "range": [low - (0.08 * span if low < 0 else 0.02 * span), high + 0.3 * span],
            },
            yaxis={"rangemode": "normal", "title": {"text": "Meter"}},
        ),
    }
    return chart


# --- customer page ------------------------------------------------------------------------------------------


def margin_heatmap(cells: list[MarginCell], period: DateRange, *, max_customers: int = 25, link=None) -> Chart:
    """`link(cell) -> url`: where clicking a cell goes ("why this charge" for that customer and meter)."""
    title = "Margin % by customer and meter (price vs cost of charged usage)"
    chart = Chart("heatmap", title)
    chart.table = [
        [
            "customer",
            "meter",
            "events",
            "quantity",
            "amount",
            "unit_value",
            "billed",
            "revenue",
            "cost",
            "included_cost",
            "charged_cost",
            "margin",
            "margin_pct",
        ]
    ] + [
        [
            c.external_id,
            c.meter.code,
            c.events,
            c.quantity,
            c.amount,
            c.unit_value,
            c.billed,
            c.revenue,
            c.cost,
            c.included_cost,
            c.charged_cost,
            c.margin,
            c.margin_pct.quantize(Decimal("0.01")) if c.margin_pct is not None else "",
        ]
        for c in cells
    ]
    priced = [c for c in cells if c.margin_pct is not None]
    if not priced:
        chart.empty = (
            f"No charged usage {period.label}, so there is no margin to show."
            if not cells
            else "Usage in this range was all included in allowances or free units."
        )
        return chart
    billed_by_customer: dict[str, Decimal] = {}
    names: dict[str, str] = {}
    for c in priced:
        billed_by_customer[c.external_id] = billed_by_customer.get(c.external_id, Decimal(0)) + c.billed
        names[c.external_id] = c.customer_name
    customers = sorted(billed_by_customer, key=lambda k: -billed_by_customer[k])[:max_customers]
    meters = sorted({c.meter.code: c.meter for c in priced}.values(), key=lambda m: m.order)
    lookup = {(c.external_id, c.meter.code): c for c in priced}
    z, text, hover, links = [], [], [], []
    for k in customers:  # one row per customer (the most billed at the top), one column per meter
        row, row_text, row_hover, row_links = [], [], [], []
        for m in meters:
            c = lookup.get((k, m.code))
            row_links.append(link(c) if (c is not None and link) else None)
            if c is None:
                row.append(None)
                row_text.append("")
                row_hover.append("no charged usage")
            else:
                row.append(f(max(min(c.margin_pct, Decimal(100)), Decimal(-100))))
                row_text.append(f"{c.margin_pct:,.0f}%")
                row_hover.append(f"{c.margin_pct:,.1f} % · billed ${c.billed:,.2f} · cost ${c.charged_cost:,.2f}")
        z.append(row)
        text.append(row_text)
        hover.append(row_hover)
        links.append(row_links)
    if len(billed_by_customer) > max_customers:
        chart.note = f"The {max_customers} customers billed the most {period.label}; the table lists every customer."
    chart.height = max(320, 150 + 26 * len(customers))
    chart.figure = {
        "data": [
            {
                "type": "heatmap",
                "x": [m.code for m in meters],
                "y": [names[k] for k in customers],
                "z": z,
                "text": text,
                "customdata": hover,
                "texttemplate": "%{text}",
                "textfont": {"size": 10},
                "zmin": -100,
                "zmax": 100,
                "zmid": 0,
                "colorscale": [[0, "#9b1c1c"], [0.35, "#f0a3a3"], [0.5, "#f7f7f7"], [0.65, "#a8dcb9"], [1, "#1f6f3f"]],
                "xgap": 2,
                "ygap": 2,
                "hoverongaps": False,
                "colorbar": {"title": {"text": "margin"}, "ticksuffix": " %", "len": 0.75, "thickness": 12},
                "hovertemplate": "%{y}<br>%{x}<br>%{customdata}"
                + ("<br><i>click: why this charge</i>" if link else "")
                + "<extra></extra>",
            }
        ],
        "layout": _layout(
            title,
            height=chart.height,
            margin={"l": 170, "b": 130, "r": 16},
            xaxis={"tickangle": -40, "title": {"text": "Meter"}, "gridcolor": "#ffffff", "side": "bottom"},
            yaxis={
                "title": {"text": "Customer (most billed first)"},
                "rangemode": "normal",
                "autorange": "reversed",
                "gridcolor": "#ffffff",
            },
        ),
    }
    if link:
        chart.figure["links"] = links  # read by charts.js: a click on a cell opens its link
    return chart
