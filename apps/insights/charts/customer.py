"""Charts of a customer's consumption page: usage per meter, included usage, burn-down (attribution, credits and
alerts: see customer_activity)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from ..selectors import Allowance, BurnDown, DateRange, MeterDay, MeterInfo, TimelineMarker
from .base import (
    FORECAST,
    GRID,
    MUTED,
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    REVENUE,
    STATE_COLOURS,
    THRESHOLD_COLOURS,
    Chart,
    _date_axis,
    _iso,
    _layout,
    _tickformat,
    _ts,
    f,
    meter_colour,
)


def usage_per_meter_chart(
    rows: list[MeterDay], meters: dict[int, MeterInfo], period: DateRange, markers: list[TimelineMarker] = ()
) -> Chart:
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
        for r in rows
        if r.meter_id in meters
    ]
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
        data.append(
            {
                "type": "bar",
                "name": meter.code,
                "x": [_iso(d) for d in days],
                "y": [f(series[meter_id].get(d, 0)) for d in days],
                "xaxis": f"x{axis}",
                "yaxis": f"y{axis}",
                "marker": {"color": meter_colour(meter)},
                "hovertemplate": f"%{{y:,.0f}} {meter.unit_plural}<extra>{meter.code}</extra>",
            }
        )
        layout_axes[f"yaxis{axis}"] = {
            "domain": [max(top - height, 0), top],
            "gridcolor": GRID,
            "rangemode": "tozero",
            "tickformat": _tickformat([f(v) for v in series[meter_id].values()]),
            "title": {"text": meter.unit_plural, "font": {"color": MUTED, "size": 11}},
            "automargin": True,
        }
        x = _date_axis(period)
        x.update({"anchor": f"y{axis}", "matches": "x" if i else None, "showticklabels": i == n - 1, "gridcolor": GRID})
        if i != n - 1:
            x["title"] = {"text": ""}
        layout_axes[f"xaxis{axis}"] = {k: v for k, v in x.items() if v is not None}
        annotations.append(
            {
                "text": f"<b>{meter.code}</b>",
                "xref": "paper",
                "yref": "paper",
                "x": 0.005,
                "y": top,
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 11, "color": MUTED},
            }
        )
    shapes = _marker_lines(markers)
    layout = _layout(
        title,
        height=chart.height,
        showlegend=False,
        hovermode="closest",
        annotations=annotations,
        shapes=shapes,
        margin={"t": 56},
    )
    layout.pop("xaxis")
    layout.pop("yaxis")
    layout.update(layout_axes)
    chart.figure = {"data": data, "layout": layout}
    if markers:
        chart.note = "Dotted vertical lines mark alerts (red: open, amber: acknowledged, grey: resolved)."
    return chart


def _marker_lines(markers) -> list[dict]:
    return [
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": _ts(m.at),
            "x1": _ts(m.at),
            "y0": 0,
            "y1": 1,
            "line": {"color": STATE_COLOURS.get(m.state, NEUTRAL), "width": 1, "dash": "dot"},
        }
        for m in markers
    ]


def included_chart(rows: list[Allowance], *, period_label: str, has_contract: bool) -> Chart:
    title = f"Included usage this billing period ({period_label})" if period_label else "Included usage"
    chart = Chart("included", title, height=max(230, 120 + 52 * len(rows)))
    chart.table = [["meter", "unit", "used", "included", "used_pct", "thresholds", "crossed_on"]] + [
        [
            a.meter.code,
            a.meter.unit_plural,
            a.used,
            a.allowance,
            a.pct.quantize(Decimal("0.01")),
            " ".join(str(t) for t in a.thresholds),
            " ".join(f"{t}%:{d.isoformat()}" for t, d in sorted(a.crossed_on.items())),
        ]
        for a in rows
    ]
    if not has_contract:
        chart.empty = "No contract in force, so nothing is included."
        return chart
    if not rows:
        chart.empty = (
            "The contract in force includes no usage allowance per meter; usage is charged from the first unit."
        )
        return chart
    thresholds = sorted({t for a in rows for t in a.thresholds})
    shown = list(reversed(rows))
    colours = {"ok": POSITIVE, "warn": THRESHOLD_COLOURS[0], "high": THRESHOLD_COLOURS[1], "over": NEGATIVE}
    max_pct = max([f(a.pct) for a in rows] + [105.0])
    labels = [
        f"{a.meter.code}<br><span style='font-size:10px;color:{MUTED}'>{_short(a.used)} of "
        f"{_short(a.allowance)} {a.meter.unit_plural}</span>"
        for a in shown
    ]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "y": labels,
            "x": [f(a.pct) for a in shown],
            "marker": {"color": [colours[a.level] for a in shown]},
            "text": [f"{a.pct:,.1f} %" for a in shown],
            "textposition": "outside",
            "cliponaxis": False,
            "customdata": [f"{a.used:,.0f} of {a.allowance:,.0f} {a.meter.unit_plural}" for a in shown],
            "hovertemplate": "%{x:.1f} % used<br>%{customdata}<extra></extra>",
        }
    ]
    shapes, annotations = [], []
    colour_of = {t: NEGATIVE if t >= 100 else THRESHOLD_COLOURS[min(i, 1)] for i, t in enumerate(thresholds)}
    for t in thresholds:
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": t,
                "x1": t,
                "y0": 0,
                "y1": 1,
                "line": {"color": colour_of[t], "width": 1.5, "dash": "dash"},
            }
        )
    # one label per cluster of marks too close to read apart at this scale ("70 · 90 · 100 %")
    clusters: list[list[int]] = []
    for t in thresholds:
        if clusters and t - clusters[-1][-1] < max_pct * 1.18 / 14:
            clusters[-1].append(t)
        else:
            clusters.append([t])
    for cluster in clusters:
        annotations.append(
            {
                "text": " · ".join(str(t) for t in cluster) + " %",
                "xref": "x",
                "yref": "paper",
                "x": cluster[0],
                "xanchor": "left" if len(cluster) > 1 else "center",
                "y": 1.0,
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 11, "color": colour_of[cluster[-1]]},
            }
        )
    chart.figure = {
        "data": data,
        "layout": _layout(
            title,
            x_title="Share of the included allowance used (%)",
            height=chart.height,
            showlegend=False,
            shapes=shapes,
            annotations=annotations,
            margin={"l": 190, "r": 40, "t": 78},
            bargap=0.35,
            xaxis={"range": [0, max_pct * 1.18], "ticksuffix": " %"},
            yaxis={"rangemode": "normal", "title": {"text": "Meter"}},
        ),
    }
    return chart


def _short(value: Decimal) -> str:
    """1234567 -> 1.23M (labels on bars; exact numbers are in the table and CSV)."""
    v = abs(value)
    for size, suffix in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k")):
        if v >= size:
            return f"{value / size:,.2f}".rstrip("0").rstrip(".") + suffix
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _mark_run_out(xaxis: dict, annotations: list, shapes: list, out, *, y, text: str, ax: int, ay: int) -> None:
    """Mark the instant the credits run out (or expire): the axis reaches past it, a labelled arrow, a dotted line."""
    xaxis["range"] = [xaxis["range"][0], max(xaxis["range"][1], _ts(out + timedelta(days=2)))]
    annotations.append(
        {
            "x": _ts(out),
            "y": y,
            "xref": "x",
            "yref": "y",
            "text": f"{text} {out:%b %-d, %Y}",
            "showarrow": True,
            "arrowhead": 2,
            "ax": ax,
            "ay": ay,
            "font": {"color": NEGATIVE, "size": 12},
            "bgcolor": "#ffffff",
        }
    )
    shapes.append(
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": _ts(out),
            "x1": _ts(out),
            "y0": 0,
            "y1": 1,
            "line": {"color": NEGATIVE, "width": 1, "dash": "dot"},
        }
    )


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
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "Balance (end of day)",
            "x": x,
            "y": [f(p.balance) for p in burn.points],
            "line": {"color": REVENUE, "width": 2.5, "shape": "hv"},
            "fill": "tozeroy",
            "fillcolor": "rgba(47,91,211,0.08)",
            "hovertemplate": "%{y:,.0f} credits<extra>Balance</extra>",
        }
    ]
    xaxis = _date_axis(period)
    annotations, shapes = [], _marker_lines(markers)
    if burn.runs_out_at is not None and burn.burn_per_day > 0:
        now = burn.now
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Forecast at the 14-day burn rate",
                "x": [_ts(now), _ts(burn.runs_out_at)],
                "y": [f(burn.balance), 0],
                "line": {"color": FORECAST, "width": 2, "dash": "dash"},
                "marker": {"size": [0, 9], "color": NEGATIVE},
                "hovertemplate": "%{x|%b %-d, %Y}: %{y:,.0f} credits<extra>Forecast</extra>",
            }
        )
        _mark_run_out(xaxis, annotations, shapes, burn.runs_out_at, y=0, text="Runs out", ax=-60, ay=-40)
    elif burn.runs_out_at is not None:  # no burn: what is left goes when the last grant expires
        _mark_run_out(
            xaxis, annotations, shapes, burn.runs_out_at, y=f(burn.balance), text="Credits expire", ax=-70, ay=30
        )
    chart.figure = {
        "data": data,
        "layout": _layout(
            title,
            y_title="Balance (credits)",
            height=chart.height,
            hovermode="x unified",
            xaxis=xaxis,
            yaxis={"tickformat": _tickformat([f(p.balance) for p in burn.points])},
            annotations=annotations,
            shapes=shapes,
        ),
    }
    return chart
