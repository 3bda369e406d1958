"""Charts of a customer's consumption page: attribution, credits and the alerts timeline."""

from __future__ import annotations

from decimal import Decimal

from ..selectors import AttributionRow, CreditsDay, DateRange, TimelineMarker
from .base import (
    FREE,
    MUTED,
    PAID,
    POSITIVE,
    STATE_COLOURS,
    Chart,
    _date_axis,
    _iso,
    _layout,
    _tickformat,
    _ts,
    f,
    money_format,
)


def attribution_chart(kind: str, rows: list[AttributionRow], period: DateRange, *, pricing_unit: str) -> Chart:
    label = {"user": "users", "agent": "agents", "team": "teams"}[kind]
    title = f"Top {label}"
    chart = Chart(f"attribution-{kind}", title, height=max(220, 80 + 26 * len(rows)))
    chart.table = [["kind", "value", "events", "amount", "credits", "revenue", "cost"]] + [
        [r.kind, r.value, r.events, r.amount, r.credits, r.revenue, r.cost] for r in rows
    ]
    if not rows:
        chart.empty = f"No event {period.label} carried a “{kind}” attribute."
        return chart
    use_amount = any(r.amount for r in rows)
    shown = list(reversed(rows))
    unit = pricing_unit or "amount"
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "y": [r.value for r in shown],
            "x": [f(r.amount) if use_amount else r.events for r in shown],
            "marker": {"color": "#4c78a8"},
            "customdata": [[r.events, f(r.amount)] for r in shown],
            "hovertemplate": "%{y}<br>%{customdata[0]:,} events<br>%{customdata[1]:,.2f} " + unit + "<extra></extra>",
        }
    ]
    x_title = f"Charged ({unit})" if use_amount else "Events"
    chart.figure = {
        "data": data,
        "layout": _layout(
            title,
            x_title=x_title,
            height=chart.height,
            showlegend=False,
            margin={"l": 120, "r": 16},
            xaxis={"tickformat": _tickformat(data[0]["x"])},
            yaxis={"rangemode": "normal", "title": {"text": kind.capitalize()}},
        ),
    }
    return chart


def credits_chart(days: list[CreditsDay], period: DateRange, *, billing_model: str, currency: str = "USD") -> Chart:
    title = "Credits drawn: paid vs free, and the revenue they carried"
    chart = Chart("credits", title, height=340)
    chart.table = [["day", "paid_credits", "free_credits", "paid_revenue"]] + [
        [_iso(d.day), d.paid_credits, d.free_credits, d.paid_revenue] for d in days
    ]
    if not any(d.paid_credits or d.free_credits for d in days):
        chart.empty = (
            "Postpaid contract: usage is invoiced in arrears, no credits are drawn."
            if billing_model == "postpaid"
            else f"No credits were drawn {period.label}."
        )
        return chart
    prefix, hover = money_format(currency)
    x = [_iso(d.day) for d in days]
    total_paid = sum((d.paid_credits for d in days), Decimal(0))
    total_free = sum((d.free_credits for d in days), Decimal(0))
    total = total_paid + total_free
    if total:
        chart.note = (
            f"{total_free / total * 100:.1f} % of the credits drawn {period.label} were free "
            "(promotional, support or zero-priced grants) and carried no revenue."
        )
    data = [
        {
            "type": "bar",
            "name": "Paid credits",
            "x": x,
            "y": [f(d.paid_credits) for d in days],
            "marker": {"color": PAID},
            "hovertemplate": "%{y:,.0f} credits<extra>Paid</extra>",
        },
        {
            "type": "bar",
            "name": "Free credits",
            "x": x,
            "y": [f(d.free_credits) for d in days],
            "marker": {"color": FREE},
            "hovertemplate": "%{y:,.0f} credits<extra>Free</extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"Revenue from paid credits ({currency})",
            "x": x,
            "y": [f(d.paid_revenue) for d in days],
            "yaxis": "y2",
            "line": {"color": POSITIVE, "width": 2},
            "hovertemplate": f"%{{y:{hover}}}<extra>Revenue</extra>",
        },
    ]
    chart.figure = {
        "data": data,
        "layout": _layout(
            title,
            y_title="Credits drawn per day",
            height=chart.height,
            barmode="stack",
            hovermode="x unified",
            xaxis=_date_axis(period),
            yaxis={"tickformat": _tickformat([f(d.paid_credits + d.free_credits) for d in days])},
            yaxis2={
                "title": {"text": f"Revenue ({currency})", "font": {"color": MUTED}},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "tickprefix": prefix,
                "showgrid": False,
                "tickformat": _tickformat([f(d.paid_revenue) for d in days]),
            },
            margin={"r": 72},
        ),
    }
    return chart


def alerts_timeline_chart(markers: list[TimelineMarker], period: DateRange) -> Chart:
    title = "Alerts on the same time axis"
    categories = sorted({m.category for m in markers})
    chart = Chart("alerts", title, height=max(180, 110 + 34 * len(categories)))
    chart.table = [["fired_at", "day", "category", "state", "label"]] + [
        [m.at.isoformat(), _iso(m.day), m.category, m.state, m.label] for m in markers
    ]
    if not markers:
        chart.empty = f"No alert fired for this customer {period.label}."
        return chart
    data = []
    for state in ("open", "acknowledged", "resolved"):
        items = [m for m in markers if m.state == state]
        if not items:
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": state.capitalize(),
                "x": [_ts(m.at) for m in items],
                "y": [m.category for m in items],
                "marker": {
                    "color": STATE_COLOURS[state],
                    "size": 12,
                    "symbol": "diamond",
                    "line": {"color": "#ffffff", "width": 1},
                },
                "text": [m.label for m in items],
                "hovertemplate": "%{x|%b %-d, %H:%M} UTC<br>%{text}<extra>" + state + "</extra>",
            }
        )
    chart.figure = {
        "data": data,
        "layout": _layout(
            title,
            height=chart.height,
            hovermode="closest",
            xaxis=_date_axis(period),
            yaxis={
                "type": "category",
                "categoryorder": "array",
                "categoryarray": categories,
                "rangemode": "normal",
                "title": {"text": "Alert type"},
            },
            margin={"l": 190},
        ),
    }
    return chart
