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

from ..selectors import DateRange, MeterInfo

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
PALETTE = [
    "#4c78a8",
    "#f2a541",
    "#72b7b2",
    "#b279a2",
    "#e6c74c",
    "#9d755d",
    "#ff9da6",
    "#7f8fa6",
    "#5fa2ce",
    "#d4a6c8",
    "#8cd17d",
    "#a0cbe8",
    "#ffbe7d",
    "#bab0ac",
]

CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
}


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
        text = json.dumps(spec, separators=(",", ":"), default=_default)
        # safe: JSON with <, > and & escaped, so nothing in it can close the <script> element it sits in
        return mark_safe(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))  # noqa: S308


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
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "xaxis": {
            "title": {"text": x_title, "font": {"color": MUTED}},
            "gridcolor": GRID,
            "zeroline": False,
            "automargin": True,
        },
        "yaxis": {
            "title": {"text": y_title, "font": {"color": MUTED}},
            "gridcolor": GRID,
            "zerolinecolor": "#cfd4de",
            "rangemode": "tozero",
            "automargin": True,
            "separatethousands": True,
        },
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1, "font": {"size": 11}},
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
    return {
        "type": "date",
        "range": [start.isoformat(), end.isoformat()],
        "tickformat": "%b %-d",
        "hoverformat": "%a %b %-d, %Y",
        "title": {"text": "Day (UTC)", "font": {"color": MUTED}},
    }


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
