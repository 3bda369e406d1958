"""The deferred-revenue waterfall: per month, opening, purchases, recognised, breakage, adjustments and closing."""

from __future__ import annotations

from apps.wallets.selectors import MonthTotal

from .base import INK, NEGATIVE, NEUTRAL, POSITIVE, REVENUE, Chart, _layout, f, money_format

STEPS = (
    ("opening", "Opening", "absolute"),
    ("purchased", "Purchased", "relative"),
    ("recognized", "Recognised", "relative"),
    ("breakage", "Breakage", "relative"),
    ("adjustments", "Adjustments", "relative"),
    ("closing", "Closing", "total"),
)
SIGNED = {"opening": 1, "purchased": 1, "recognized": -1, "breakage": -1, "adjustments": 1, "closing": 1}


def waterfall_chart(months: list[MonthTotal]) -> Chart:
    currency = months[0].currency if months else "USD"
    title = f"Deferred revenue by month ({currency})"
    chart = Chart("waterfall", title, height=400)
    chart.table = [["month", "currency", *(key for key, _, _ in STEPS)]] + [
        [m.month.label, m.currency, *(getattr(m.cents, key) for key, _, _ in STEPS)] for m in months
    ]
    if not any(m.cents.moved for m in months):
        chart.empty = "No paid credits in these months: purchases, consumption and breakage appear here."
        return chart
    prefix, hover = money_format(currency)
    x_months, x_steps, y, measures, text = [], [], [], [], []
    for m in months:
        for key, label, measure in STEPS:
            value = getattr(m.cents, key) * SIGNED[key]
            x_months.append(m.month.start.strftime("%b %Y"))
            x_steps.append(label)
            y.append(f(value))
            measures.append(measure)
            text.append(f"{'-' if value < 0 else ''}{prefix}{abs(value):,.2f}")
    chart.figure = {
        "data": [
            {
                "type": "waterfall",
                "name": "Deferred revenue",
                "x": [x_months, x_steps],
                "y": y,
                "measure": measures,
                "text": text,
                "textposition": "none",
                "hovertemplate": "%{x}<br>%{text}<extra></extra>",
                "increasing": {"marker": {"color": POSITIVE}},
                "decreasing": {"marker": {"color": NEGATIVE}},
                "totals": {"marker": {"color": REVENUE}},
                "connector": {"line": {"color": NEUTRAL, "width": 1}},
            }
        ],
        "layout": _layout(
            title,
            y_title=f"Deferred balance ({currency})",
            height=chart.height,
            showlegend=False,
            yaxis={"tickprefix": prefix, "tickformat": ",.0f"},
            xaxis={"tickfont": {"size": 10, "color": INK}},
        ),
    }
    chart.note = (
        "Each month: the opening balance (blue), purchases of paid credits (green), revenue recognised on "
        "consumption and breakage (red), adjustments (voids and give-backs), and the closing balance (blue)."
    )
    return chart
