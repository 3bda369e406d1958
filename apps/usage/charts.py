"""Plotly figures (plain dicts) built from dashboard selector data, and the tables behind them (CSV).

The only place numbers become floats. Colours carry one meaning everywhere:
revenue blue, cost orange, margin green when positive and red when negative (below cost), balance blue with a
grey dashed forecast, alert thresholds amber / orange / red, paid credits blue and free credits light grey-blue,
and each meter keeps the same colour on every chart (its position in the catalog).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.utils.safestring import mark_safe

from .dashboard_selectors import (
    MEASURES,
    Allowance,
    AttributionRow,
    BurnDown,
    CreditsDay,
    DateRange,
    MarginCell,
    MeterDay,
    MeterInfo,
    MeterMargin,
    MoneyDay,
    TimelineMarker,
)

FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
INK = "#1d2330"
MUTED = "#6b7385"
GRID = "#eef0f4"
REVENUE = "#2f5bd3"
COST = "#dd7a2b"
POSITIVE = "#1f8a4c"
NEGATIVE = "#c53030"
NEUTRAL = "#a0a8b8"
FORECAST = "#6b7385"
PAID = "#2f5bd3"
FREE = "#b9c6e8"
THRESHOLD_COLOURS = ["#b7791f", "#dd6b20", "#c53030"]  # first, middle, 100 %
STATE_COLOURS = {"open": "#c53030", "acknowledged": "#b7791f", "resolved": "#8a93a6"}
# Qualitative palette without pure red or green (those mean "below cost" and "healthy margin").
PALETTE = ["#4c78a8", "#f2a541", "#72b7b2", "#b279a2", "#e6c74c", "#9d755d", "#ff9da6", "#7f8fa6",
           "#5fa2ce", "#d4a6c8", "#8cd17d", "#a0cbe8", "#ffbe7d", "#bab0ac"]

CONFIG = {"displaylogo": False, "responsive": True,
          "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"]}


@dataclass
class Chart:
    key: str
    title: str
    figure: dict | None = None
    empty: str = ""  # why there is nothing to draw (shown instead of the chart)
    table: list[list] = field(default_factory=list)  # CSV rows, header first
    height: int = 320
    csv_url: str = ""
    note: str = ""

    @property
    def json(self) -> str:
        """The figure as JSON safe inside a <script type="application/json"> element."""
        spec = {"data": self.figure["data"], "layout": self.figure["layout"], "config": CONFIG}
        if self.figure.get("links"):
            spec["links"] = self.figure["links"]
        text = json.dumps(spec,
                          separators=(",", ":"), default=_default)
        return mark_safe(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _default(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(type(value))


def f(value) -> float | None:
    return None if value is None else float(value)


def meter_colour(meter: MeterInfo) -> str:
    return PALETTE[meter.order % len(PALETTE)]


def money_format(currency: str) -> tuple[str, str]:
    """(tickprefix, hover format) for an amount axis."""
    if currency in ("USD", "$"):
        return "$", "$,.2f"
    return "", ",.2f"


def _layout(title: str, *, x_title: str = "", y_title: str = "", height: int = 320, **extra) -> dict:
    layout = {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15, "color": INK}},
        "height": height,
        "margin": {"l": 72, "r": 24, "t": 48, "b": 56},
        "font": {"family": FONT, "size": 12, "color": INK},
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
        "xaxis": {"title": {"text": x_title, "font": {"color": MUTED}}, "gridcolor": GRID, "zeroline": False,
                  "automargin": True},
        "yaxis": {"title": {"text": y_title, "font": {"color": MUTED}}, "gridcolor": GRID, "zerolinecolor": "#cfd4de",
                  "rangemode": "tozero", "automargin": True, "separatethousands": True},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1,
                   "font": {"size": 11}},
        "hoverlabel": {"font": {"family": FONT}},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _date_axis(period: DateRange) -> dict:
    """The same x range on every daily chart of a page: half a day of padding before the first day's bar, and the
    whole of the last day (today included up to now: alerts and balance points later than midday stay visible)."""
    start = datetime(period.start.year, period.start.month, period.start.day) - timedelta(hours=12)
    end = datetime(period.end.year, period.end.month, period.end.day) + timedelta(days=1)
    return {"type": "date", "range": [start.isoformat(), end.isoformat()], "tickformat": "%b %-d",
            "hoverformat": "%a %b %-d, %Y", "title": {"text": "Day (UTC)", "font": {"color": MUTED}}}


def _iso(d: date) -> str:
    return d.isoformat()


def _ts(value: datetime) -> str:
    """An instant as naive UTC text (plotly.js ignores time zones: the whole page is in UTC)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _tickformat(values) -> str:
    """d3 format by magnitude: 12k / 1.5M above ten thousand, whole numbers above ten, cents below (never the
    SI "m" for milli, which reads like millions)."""
    top = max((abs(v) for v in values if v is not None), default=0)
    if top >= 10000:
        return ",.3~s"
    if top >= 10:
        return ",.0f"
    return ",.2~f"


# --- overview ------------------------------------------------------------------------------------------------

MEASURE_AXIS = {"events": "Events per day", "cost": "Cost per day", "revenue": "Revenue per day"}


def consumption_chart(rows: list[MeterDay], meters: dict[int, MeterInfo], period: DateRange, *, by: str,
                      measure: str, currency: str = "USD") -> Chart:
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
    chart.table = [["day", by_label, measure]] + [[_iso(d), k, v] for k in sorted(groups) for d, v in
                                                    sorted(groups[k].items())]
    if not any(v for g in groups.values() for v in g.values()):
        chart.empty = (f"No rated usage {period.label}. Usage appears here once events are ingested and rated.")
        return chart
    days = period.dates()
    prefix, hover = money_format(currency)
    value_format = ",.0f" if measure == "events" else hover
    data = []
    for key in sorted(groups, key=lambda k: order[k]):
        data.append({"type": "bar", "name": key, "x": [_iso(d) for d in days],
                     "y": [f(groups[key].get(d, 0)) for d in days], "marker": {"color": colours[key]},
                     "hovertemplate": f"%{{y:{value_format}}}<extra>{key}</extra>"})
    y_title = MEASURE_AXIS[measure] + ("" if measure == "events" else f" ({currency})")
    chart.figure = {"data": data, "layout": _layout(
        title, y_title=y_title, height=chart.height, barmode="stack", hovermode="x unified", xaxis=_date_axis(period),
        # one entry per line on the right: meter codes are long and there can be a dozen of them
        legend={"orientation": "v", "x": 1.01, "xanchor": "left", "y": 1, "yanchor": "top", "traceorder": "reversed"},
        margin={"r": 190 if by == "meter" else 130},
        yaxis={"tickprefix": "" if measure == "events" else prefix,
               "tickformat": _tickformat(_stack_tops(groups))})}
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
        [_iso(d.day), d.revenue, d.cost, d.margin, d.margin_pct.quantize(Decimal("0.01")) if d.margin_pct is not None
         else ""] for d in days]
    if not any(d.revenue or d.cost for d in days):
        chart.empty = f"No revenue or cost {period.label}: nothing was rated in this range."
        return chart
    prefix, hover = money_format(currency)
    x = [_iso(d.day) for d in days]
    pct = [f"{d.margin_pct:.1f} %" if d.margin_pct is not None else "no revenue" for d in days]
    data = [
        {"type": "bar", "name": "Gross margin", "x": x, "y": [f(d.margin) for d in days],
         "marker": {"color": [POSITIVE if d.margin >= 0 else NEGATIVE for d in days], "opacity": 0.85},
         "customdata": pct, "hovertemplate": f"%{{y:{hover}}} (%{{customdata}})<extra>Gross margin</extra>"},
        {"type": "scatter", "mode": "lines", "name": "Revenue", "x": x, "y": [f(d.revenue) for d in days],
         "line": {"color": REVENUE, "width": 2.5}, "hovertemplate": f"%{{y:{hover}}}<extra>Revenue</extra>"},
        {"type": "scatter", "mode": "lines", "name": "Cost", "x": x, "y": [f(d.cost) for d in days],
         "line": {"color": COST, "width": 2.5}, "hovertemplate": f"%{{y:{hover}}}<extra>Cost</extra>"},
    ]
    chart.figure = {"data": data, "layout": _layout(
        title, y_title=f"Amount per day ({currency})", height=chart.height, hovermode="x unified",
        xaxis=_date_axis(period), yaxis={"tickprefix": prefix, "rangemode": "normal",
                                          "tickformat": _tickformat([f(d.revenue) for d in days]
                                                                    + [f(d.cost) for d in days])})}
    return chart


def margin_by_meter_chart(items: list[MeterMargin], period: DateRange) -> Chart:
    title = "Margin % by meter (price vs cost of charged usage)"
    priced = [m for m in items if m.margin_pct is not None]
    chart = Chart("margin-by-meter", title, height=max(220, 70 + 30 * len(priced)))
    chart.table = [["meter", "product", "events", "quantity", "billed", "revenue", "cost", "included_cost",
                    "charged_cost", "margin", "margin_pct", "below_cost"]] + [
        [m.meter.code, m.meter.product_name, m.events, m.quantity, m.billed, m.revenue, m.cost, m.included_cost,
         m.charged_cost, m.margin,
         m.margin_pct.quantize(Decimal("0.01")) if m.margin_pct is not None else "", m.below_cost] for m in items]
    if not priced:
        chart.empty = (f"No charged usage {period.label}, so there is no margin to show."
                       if not items else "Usage in this range was all included in allowances or free units, so "
                                         "margin % is undefined.")
        return chart
    rows = list(reversed(priced))  # lowest margin at the top
    labels = [m.meter.code for m in rows]
    values = [f(m.margin_pct) for m in rows]
    low, high = min(values + [0.0]), max(values + [0.0])
    span = max(high - low, 10.0)
    # values beside the bars: right of a positive bar's end, right of zero for a negative one (clear of the names)
    annotations = [{"x": max(v, 0.0), "y": label, "xref": "x", "yref": "y", "xanchor": "left", "xshift": 4,
                    "showarrow": False, "text": f"{m.margin_pct:,.1f} %",
                    "font": {"size": 11, "color": NEGATIVE if m.below_cost else INK}}
                   for v, label, m in zip(values, labels, rows)]
    chart.figure = {"data": [{
        "type": "bar", "orientation": "h", "y": labels, "x": values,
        "marker": {"color": [NEGATIVE if m.below_cost else POSITIVE for m in rows]},
        "customdata": [[f(m.billed), f(m.charged_cost)] for m in rows],
        "hovertemplate": "%{y}<br>margin %{x:.1f} %<br>billed $%{customdata[0]:,.2f}<br>cost of charged usage "
                         "$%{customdata[1]:,.2f}<extra></extra>",
    }], "layout": _layout(title, x_title="Gross margin (% of revenue)", height=chart.height, showlegend=False,
                          margin={"l": 190, "r": 40}, bargap=0.3, annotations=annotations,
                          xaxis={"ticksuffix": " %", "zeroline": True, "zerolinecolor": INK, "zerolinewidth": 1.5,
                                 "range": [low - (0.08 * span if low < 0 else 0.02 * span), high + 0.3 * span]},
                          yaxis={"rangemode": "normal", "title": {"text": "Meter"}})}
    return chart


# --- customer page ------------------------------------------------------------------------------------------

def usage_per_meter_chart(rows: list[MeterDay], meters: dict[int, MeterInfo], period: DateRange,
                          markers: list[TimelineMarker] = ()) -> Chart:
    """Small multiples: one row per meter, each with its own unit, on one shared day axis."""
    title = "Daily usage per meter"
    series: dict[int, dict[date, Decimal]] = {}
    for r in rows:
        if r.meter_id in meters:
            series.setdefault(r.meter_id, {})
            series[r.meter_id][r.day] = series[r.meter_id].get(r.day, Decimal(0)) + r.quantity
    used = sorted((m for m in series if any(series[m].values())), key=lambda m: meters[m].order)
    chart = Chart("usage", title, height=max(260, 60 + 120 * len(used)))
    chart.table = [["day", "meter", "unit", "quantity", "events"]] + [
        [_iso(r.day), meters[r.meter_id].code, meters[r.meter_id].unit_plural, r.quantity, r.events]
        for r in rows if r.meter_id in meters]
    if not used:
        chart.empty = f"No rated usage {period.label}. Usage appears here once this customer's events are rated."
        return chart
    n = len(used)
    gap = 0.06 if n > 1 else 0
    height = (1 - gap * (n - 1)) / n
    days = period.dates()
    data, layout_axes, annotations = [], {}, []
    for i, meter_id in enumerate(used):
        meter = meters[meter_id]
        axis = "" if i == 0 else str(i + 1)
        top = 1 - i * (height + gap)
        data.append({"type": "bar", "name": meter.code, "x": [_iso(d) for d in days],
                     "y": [f(series[meter_id].get(d, 0)) for d in days], "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                     "marker": {"color": meter_colour(meter)},
                     "hovertemplate": f"%{{y:,.0f}} {meter.unit_plural}<extra>{meter.code}</extra>"})
        layout_axes[f"yaxis{axis}"] = {"domain": [max(top - height, 0), top], "gridcolor": GRID, "rangemode": "tozero",
                                       "tickformat": _tickformat([f(v) for v in series[meter_id].values()]),
                                       "title": {"text": meter.unit_plural,
                                                                        "font": {"color": MUTED, "size": 11}},
                                       "automargin": True}
        x = _date_axis(period)
        x.update({"anchor": f"y{axis}", "matches": "x" if i else None, "showticklabels": i == n - 1,
                  "gridcolor": GRID})
        if i != n - 1:
            x["title"] = {"text": ""}
        layout_axes[f"xaxis{axis}"] = {k: v for k, v in x.items() if v is not None}
        annotations.append({"text": f"<b>{meter.code}</b>", "xref": "paper", "yref": "paper", "x": 0.005, "y": top,
                            "xanchor": "left", "yanchor": "bottom", "showarrow": False,
                            "font": {"size": 11, "color": MUTED}})
    shapes = _marker_lines(markers)
    layout = _layout(title, height=chart.height, showlegend=False, hovermode="closest",
                     annotations=annotations, shapes=shapes, margin={"t": 56})
    layout.pop("xaxis")
    layout.pop("yaxis")
    layout.update(layout_axes)
    chart.figure = {"data": data, "layout": layout}
    if markers:
        chart.note = "Dotted vertical lines mark alerts (red: open, amber: acknowledged, grey: resolved)."
    return chart


def _marker_lines(markers) -> list[dict]:
    return [{"type": "line", "xref": "x", "yref": "paper", "x0": _ts(m.at), "x1": _ts(m.at),
             "y0": 0, "y1": 1, "line": {"color": STATE_COLOURS.get(m.state, NEUTRAL), "width": 1, "dash": "dot"}}
            for m in markers]


def included_chart(rows: list[Allowance], *, period_label: str, has_contract: bool) -> Chart:
    title = f"Included usage this billing period ({period_label})" if period_label else "Included usage"
    chart = Chart("included", title, height=max(230, 120 + 52 * len(rows)))
    chart.table = [["meter", "unit", "used", "included", "used_pct", "thresholds", "crossed_on"]] + [
        [a.meter.code, a.meter.unit_plural, a.used, a.allowance, a.pct.quantize(Decimal("0.01")),
         " ".join(str(t) for t in a.thresholds),
         " ".join(f"{t}%:{d.isoformat()}" for t, d in sorted(a.crossed_on.items()))] for a in rows]
    if not has_contract:
        chart.empty = "No contract in force, so nothing is included."
        return chart
    if not rows:
        chart.empty = "The contract in force includes no usage allowance per meter; usage is charged from the first unit."
        return chart
    thresholds = sorted({t for a in rows for t in a.thresholds})
    shown = list(reversed(rows))
    colours = {"ok": POSITIVE, "warn": THRESHOLD_COLOURS[0], "high": THRESHOLD_COLOURS[1], "over": NEGATIVE}
    max_pct = max([f(a.pct) for a in rows] + [105.0])
    labels = [f"{a.meter.code}<br><span style='font-size:10px;color:{MUTED}'>{_short(a.used)} of "
              f"{_short(a.allowance)} {a.meter.unit_plural}</span>" for a in shown]
    data = [{
        "type": "bar", "orientation": "h", "y": labels, "x": [f(a.pct) for a in shown],
        "marker": {"color": [colours[a.level] for a in shown]},
        "text": [f"{a.pct:,.1f} %" for a in shown], "textposition": "outside", "cliponaxis": False,
        "customdata": [f"{a.used:,.0f} of {a.allowance:,.0f} {a.meter.unit_plural}" for a in shown],
        "hovertemplate": "%{x:.1f} % used<br>%{customdata}<extra></extra>",
    }]
    shapes, annotations = [], []
    colour_of = {t: NEGATIVE if t >= 100 else THRESHOLD_COLOURS[min(i, 1)] for i, t in enumerate(thresholds)}
    for t in thresholds:
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": t, "x1": t, "y0": 0, "y1": 1,
                       "line": {"color": colour_of[t], "width": 1.5, "dash": "dash"}})
    # one label per cluster of marks too close to read apart at this scale ("70 · 90 · 100 %")
    clusters: list[list[int]] = []
    for t in thresholds:
        if clusters and t - clusters[-1][-1] < max_pct * 1.18 / 14:
            clusters[-1].append(t)
        else:
            clusters.append([t])
    for cluster in clusters:
        annotations.append({"text": " · ".join(str(t) for t in cluster) + " %", "xref": "x", "yref": "paper",
                            "x": cluster[0], "xanchor": "left" if len(cluster) > 1 else "center", "y": 1.0,
                            "yanchor": "bottom", "showarrow": False,
                            "font": {"size": 11, "color": colour_of[cluster[-1]]}})
    chart.figure = {"data": data, "layout": _layout(
        title, x_title="Share of the included allowance used (%)", height=chart.height, showlegend=False,
        shapes=shapes, annotations=annotations, margin={"l": 190, "r": 40, "t": 78}, bargap=0.35,
        xaxis={"range": [0, max_pct * 1.18], "ticksuffix": " %"},
        yaxis={"rangemode": "normal", "title": {"text": "Meter"}})}
    return chart


def _short(value: Decimal) -> str:
    """1234567 -> 1.23M (labels on bars; exact numbers are in the table and CSV)."""
    v = abs(value)
    for size, suffix in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k")):
        if v >= size:
            return f"{value / size:,.2f}".rstrip("0").rstrip(".") + suffix
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def burndown_chart(burn: BurnDown, period: DateRange, markers: list[TimelineMarker] = ()) -> Chart:
    title = "Balance and forecast to run-out"
    chart = Chart("balance", title, height=340)
    chart.table = [["day", "balance_end_of_day", "kind"]] + [[_iso(p.day), p.balance, "actual"] for p in burn.points]
    if burn.runs_out_at is not None:
        chart.table.append([_iso(burn.runs_out_at.date()), Decimal(0), "forecast run-out"])
    if not burn.has_wallet:
        chart.empty = "This customer has no credit wallet (postpaid): there is no balance to burn down."
        return chart
    if not burn.points:
        chart.empty = f"No balance history {period.label}."
        return chart
    x = [_iso(p.day) for p in burn.points]
    data = [{"type": "scatter", "mode": "lines", "name": "Balance (end of day)", "x": x,
             "y": [f(p.balance) for p in burn.points], "line": {"color": REVENUE, "width": 2.5, "shape": "hv"},
             "fill": "tozeroy", "fillcolor": "rgba(47,91,211,0.08)",
             "hovertemplate": "%{y:,.0f} credits<extra>Balance</extra>"}]
    xaxis = _date_axis(period)
    annotations, shapes = [], _marker_lines(markers)
    if burn.runs_out_at is not None and burn.burn_per_day > 0:
        now = burn.now
        data.append({"type": "scatter", "mode": "lines+markers", "name": "Forecast at the 14-day burn rate",
                     "x": [_ts(now), _ts(burn.runs_out_at)], "y": [f(burn.balance), 0],
                     "line": {"color": FORECAST, "width": 2, "dash": "dash"}, "marker": {"size": [0, 9],
                                                                                       "color": NEGATIVE},
                     "hovertemplate": "%{x|%b %-d, %Y}: %{y:,.0f} credits<extra>Forecast</extra>"})
        out = burn.runs_out_at
        xaxis["range"] = [xaxis["range"][0], max(xaxis["range"][1], _ts(out + timedelta(days=2)))]
        annotations.append({"x": _ts(out), "y": 0, "xref": "x", "yref": "y", "text":
                            f"Runs out {out:%b %-d, %Y}", "showarrow": True, "arrowhead": 2, "ax": -60, "ay": -40,
                            "font": {"color": NEGATIVE, "size": 12}, "bgcolor": "#ffffff"})
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": _ts(out), "x1": _ts(out),
                       "y0": 0, "y1": 1, "line": {"color": NEGATIVE, "width": 1, "dash": "dot"}})
    elif burn.runs_out_at is not None:  # no burn: what is left goes when the last grant expires
        out = burn.runs_out_at
        xaxis["range"] = [xaxis["range"][0], max(xaxis["range"][1], _ts(out + timedelta(days=2)))]
        annotations.append({"x": _ts(out), "y": f(burn.balance), "xref": "x", "yref": "y",
                            "text": f"Credits expire {out:%b %-d, %Y}", "showarrow": True, "arrowhead": 2, "ax": -70,
                            "ay": 30, "font": {"color": NEGATIVE, "size": 12}, "bgcolor": "#ffffff"})
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": _ts(out), "x1": _ts(out),
                       "y0": 0, "y1": 1, "line": {"color": NEGATIVE, "width": 1, "dash": "dot"}})
    chart.figure = {"data": data, "layout": _layout(
        title, y_title="Balance (credits)", height=chart.height, hovermode="x unified", xaxis=xaxis,
        yaxis={"tickformat": _tickformat([f(p.balance) for p in burn.points])}, annotations=annotations,
        shapes=shapes)}
    return chart


def attribution_chart(kind: str, rows: list[AttributionRow], period: DateRange, *, pricing_unit: str) -> Chart:
    label = {"user": "users", "agent": "agents", "team": "teams"}[kind]
    title = f"Top {label}"
    chart = Chart(f"attribution-{kind}", title, height=max(220, 80 + 26 * len(rows)))
    chart.table = [["kind", "value", "events", "amount", "credits", "revenue", "cost"]] + [
        [r.kind, r.value, r.events, r.amount, r.credits, r.revenue, r.cost] for r in rows]
    if not rows:
        chart.empty = f"No event {period.label} carried a “{kind}” attribute."
        return chart
    use_amount = any(r.amount for r in rows)
    shown = list(reversed(rows))
    unit = pricing_unit or "amount"
    data = [{"type": "bar", "orientation": "h", "y": [r.value for r in shown],
             "x": [f(r.amount) if use_amount else r.events for r in shown], "marker": {"color": "#4c78a8"},
             "customdata": [[r.events, f(r.amount)] for r in shown],
             "hovertemplate": "%{y}<br>%{customdata[0]:,} events<br>%{customdata[1]:,.2f} " + unit
                              + "<extra></extra>"}]
    x_title = f"Charged ({unit})" if use_amount else "Events"
    chart.figure = {"data": data, "layout": _layout(
        title, x_title=x_title, height=chart.height, showlegend=False, margin={"l": 120, "r": 16},
        xaxis={"tickformat": _tickformat(data[0]["x"])},
        yaxis={"rangemode": "normal", "title": {"text": kind.capitalize()}})}
    return chart


def credits_chart(days: list[CreditsDay], period: DateRange, *, billing_model: str, currency: str = "USD") -> Chart:
    title = "Credits drawn: paid vs free, and the revenue they carried"
    chart = Chart("credits", title, height=340)
    chart.table = [["day", "paid_credits", "free_credits", "paid_revenue"]] + [
        [_iso(d.day), d.paid_credits, d.free_credits, d.paid_revenue] for d in days]
    if not any(d.paid_credits or d.free_credits for d in days):
        chart.empty = ("Postpaid contract: usage is invoiced in arrears, no credits are drawn."
                       if billing_model == "postpaid" else f"No credits were drawn {period.label}.")
        return chart
    prefix, hover = money_format(currency)
    x = [_iso(d.day) for d in days]
    total_paid = sum((d.paid_credits for d in days), Decimal(0))
    total_free = sum((d.free_credits for d in days), Decimal(0))
    total = total_paid + total_free
    if total:
        chart.note = (f"{total_free / total * 100:.1f} % of the credits drawn {period.label} were free "
                      "(promotional, support or zero-priced grants) and carried no revenue.")
    data = [
        {"type": "bar", "name": "Paid credits", "x": x, "y": [f(d.paid_credits) for d in days],
         "marker": {"color": PAID}, "hovertemplate": "%{y:,.0f} credits<extra>Paid</extra>"},
        {"type": "bar", "name": "Free credits", "x": x, "y": [f(d.free_credits) for d in days],
         "marker": {"color": FREE}, "hovertemplate": "%{y:,.0f} credits<extra>Free</extra>"},
        {"type": "scatter", "mode": "lines", "name": f"Revenue from paid credits ({currency})", "x": x,
         "y": [f(d.paid_revenue) for d in days], "yaxis": "y2", "line": {"color": POSITIVE, "width": 2},
         "hovertemplate": f"%{{y:{hover}}}<extra>Revenue</extra>"},
    ]
    chart.figure = {"data": data, "layout": _layout(
        title, y_title="Credits drawn per day", height=chart.height, barmode="stack", hovermode="x unified",
        xaxis=_date_axis(period), yaxis={"tickformat": _tickformat([f(d.paid_credits + d.free_credits) for d in days])},
        yaxis2={"title": {"text": f"Revenue ({currency})", "font": {"color": MUTED}}, "overlaying": "y",
                "side": "right", "rangemode": "tozero", "tickprefix": prefix, "showgrid": False,
                "tickformat": _tickformat([f(d.paid_revenue) for d in days])},
        margin={"r": 72})}
    return chart


def alerts_timeline_chart(markers: list[TimelineMarker], period: DateRange) -> Chart:
    title = "Alerts on the same time axis"
    categories = sorted({m.category for m in markers})
    chart = Chart("alerts", title, height=max(180, 110 + 34 * len(categories)))
    chart.table = [["fired_at", "day", "category", "state", "label"]] + [
        [m.at.isoformat(), _iso(m.day), m.category, m.state, m.label] for m in markers]
    if not markers:
        chart.empty = f"No alert fired for this customer {period.label}."
        return chart
    data = []
    for state in ("open", "acknowledged", "resolved"):
        items = [m for m in markers if m.state == state]
        if not items:
            continue
        data.append({"type": "scatter", "mode": "markers", "name": state.capitalize(),
                     "x": [_ts(m.at) for m in items], "y": [m.category for m in items],
                     "marker": {"color": STATE_COLOURS[state], "size": 12, "symbol": "diamond",
                                "line": {"color": "#ffffff", "width": 1}},
                     "text": [m.label for m in items],
                     "hovertemplate": "%{x|%b %-d, %H:%M} UTC<br>%{text}<extra>" + state + "</extra>"})
    chart.figure = {"data": data, "layout": _layout(
        title, height=chart.height, hovermode="closest", xaxis=_date_axis(period),
        yaxis={"type": "category", "categoryorder": "array", "categoryarray": categories, "rangemode": "normal",
               "title": {"text": "Alert type"}}, margin={"l": 190})}
    return chart


# --- margin page ---------------------------------------------------------------------------------------------

def margin_heatmap(cells: list[MarginCell], period: DateRange, *, max_customers: int = 25,
                   link=None) -> Chart:
    """`link(cell) -> url`: where clicking a cell goes ("why this charge" for that customer and meter)."""
    title = "Margin % by customer and meter (price vs cost of charged usage)"
    chart = Chart("heatmap", title)
    chart.table = [["customer", "meter", "events", "quantity", "amount", "unit_value", "billed", "revenue", "cost",
                    "included_cost", "charged_cost", "margin", "margin_pct"]] + [
        [c.external_id, c.meter.code, c.events, c.quantity, c.amount, c.unit_value, c.billed, c.revenue, c.cost,
         c.included_cost, c.charged_cost, c.margin,
         c.margin_pct.quantize(Decimal("0.01")) if c.margin_pct is not None else ""] for c in cells]
    priced = [c for c in cells if c.margin_pct is not None]
    if not priced:
        chart.empty = (f"No charged usage {period.label}, so there is no margin to show." if not cells else
                       "Usage in this range was all included in allowances or free units.")
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
        chart.note = (f"The {max_customers} customers billed the most {period.label}; the table lists every "
                      "customer.")
    chart.height = max(320, 150 + 26 * len(customers))
    chart.figure = {"data": [{
        "type": "heatmap", "x": [m.code for m in meters], "y": [names[k] for k in customers], "z": z,
        "text": text, "customdata": hover, "texttemplate": "%{text}", "textfont": {"size": 10},
        "zmin": -100, "zmax": 100, "zmid": 0,
        "colorscale": [[0, "#9b1c1c"], [0.35, "#f0a3a3"], [0.5, "#f7f7f7"], [0.65, "#a8dcb9"], [1, "#1f6f3f"]],
        "xgap": 2, "ygap": 2, "hoverongaps": False,
        "colorbar": {"title": {"text": "margin"}, "ticksuffix": " %", "len": 0.75, "thickness": 12},
        "hovertemplate": "%{y}<br>%{x}<br>%{customdata}" + ("<br><i>click: why this charge</i>" if link else "")
                         + "<extra></extra>",
    }], "layout": _layout(title, height=chart.height, margin={"l": 170, "b": 130, "r": 16}, xaxis={
        "tickangle": -40, "title": {"text": "Meter"}, "gridcolor": "#ffffff", "side": "bottom"},
        yaxis={"title": {"text": "Customer (most billed first)"}, "rangemode": "normal", "autorange": "reversed",
               "gridcolor": "#ffffff"})}
    if link:
        chart.figure["links"] = links  # read by charts.js: a click on a cell opens its link
    return chart
