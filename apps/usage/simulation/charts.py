"""The winners/losers figure of a simulation: customers by bill change (a Plotly figure dict; the only floats)."""

from __future__ import annotations

import json

from django.utils.safestring import mark_safe

from .selectors import SimulationReport

UP = "#c53030"  # bills that rise (red, as "worse for the customer" everywhere on the dashboards)
DOWN = "#1f8a4c"
SHOCK = "#b7791f"
CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
MAX_BARS = 40  # the largest moves either way; the table and the CSV have everyone


def bill_change_figure(report: SimulationReport) -> dict | None:
    moved = [c for c in report.customers if c.amount_change != 0]
    if not moved:
        return None
    moved.sort(key=lambda c: abs(c.amount_change), reverse=True)
    shown = sorted(moved[:MAX_BARS], key=lambda c: c.amount_change)
    unit = report.simulation.pricing_unit
    labels = [c.external_id + (" ⚠" if c.shock else "") for c in shown]
    values = [float(c.amount_change) for c in shown]
    hover = [
        f"{c.external_id}: {c.now['amount']:.2f} → {c.simulated['amount']:.2f} {unit}"
        + (f" ({c.amount_pct:+.1f} %)" if c.amount_pct is not None else " (new charge)")
        + (" — bill shock" if c.shock else "")
        for c in shown
    ]
    colours = [SHOCK if c.shock else (UP if c.amount_change > 0 else DOWN) for c in shown]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": values,
                "y": labels,
                "marker": {"color": colours},
                "hovertext": hover,
                "hoverinfo": "text",
            }
        ],
        "layout": {
            "height": max(220, 26 * len(shown) + 90),
            "margin": {"l": 150, "r": 20, "t": 10, "b": 40},
            "xaxis": {"title": {"text": f"Bill change over the range ({unit})"}, "zeroline": True},
            "yaxis": {"automargin": True},
            "showlegend": False,
            "font": {"size": 12},
        },
    }


def figure_json(figure: dict) -> str:
    """The figure as JSON safe inside <script type="application/json">."""
    text = json.dumps({"data": figure["data"], "layout": figure["layout"], "config": CONFIG}, separators=(",", ":"))
    # safe: <, > and & escaped, so nothing in it can close the <script> element it sits in
    return mark_safe(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))  # noqa: S308
